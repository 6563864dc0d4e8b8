"""The Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from msg5g.storage.migrate import upgrade_async
from msg5g.storage.tables import PlatformBase, TenantBase
from tests.conftest import postgres_database

pytestmark = pytest.mark.asyncio


def _models() -> MetaData:
    combined = MetaData()
    for base in (PlatformBase, TenantBase):
        for table in base.metadata.tables.values():
            table.to_metadata(combined)
    return combined


async def _differences(url: str) -> list[Any]:
    await upgrade_async(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), _models()))
    finally:
        await engine.dispose()


async def test_sqlite_schema_matches_the_models(tmp_path: Path) -> None:
    assert await _differences(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}") == []


async def test_postgres_schema_matches_the_models() -> None:
    async with postgres_database() as url:
        assert await _differences(url) == []
