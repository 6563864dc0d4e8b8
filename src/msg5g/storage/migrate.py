"""Running the Alembic migrations programmatically (`msg5g migrate`, `make run`, test fixtures)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from msg5g.kit.secrets import SecretBox

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str, secret_box: SecretBox | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    # Migrations that move credentials seal them with the platform's key (0003).
    config.attributes["secret_box"] = secret_box
    return config


def upgrade(database_url: str, revision: str = "head", secret_box: SecretBox | None = None) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url, secret_box), revision)


async def upgrade_async(database_url: str, revision: str = "head", secret_box: SecretBox | None = None) -> None:
    # env.py runs its own event loop, so it cannot run inside ours: give it a thread.
    await asyncio.to_thread(upgrade, database_url, revision, secret_box)
