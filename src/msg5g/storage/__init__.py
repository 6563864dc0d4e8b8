"""Storage: SQLAlchemy 2 (asyncio) on SQLite by default, PostgreSQL at scale. Every query lives here."""
