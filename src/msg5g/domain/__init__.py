"""The domain: the unified message model, statuses and errors. Imports no web framework or storage."""
