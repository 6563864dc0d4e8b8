"""The admin's pages, one router per section."""
