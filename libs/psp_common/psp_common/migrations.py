"""Alembic helpers: each service keeps its migrations in ``<package>/migrations``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(script_location: Path, database_url: str) -> Config:
    """An Alembic config for a service's migration folder and database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(script_location: Path, database_url: str) -> None:
    """Migrate the database to the newest revision (blocking; run it in a thread from async code)."""
    command.upgrade(alembic_config(script_location, database_url), "head")


async def upgrade_async(script_location: Path, database_url: str) -> None:
    """Migrate from async code without nesting event loops."""
    await asyncio.to_thread(upgrade, script_location, database_url)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py``: run migrations online with the async engine."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


def main() -> None:
    """CLI: ``python -m psp_common.migrations <script_location> <database_url> revision|upgrade [msg]``."""
    script_location, url, verb, *rest = sys.argv[1:]
    cfg = alembic_config(Path(script_location), url)
    if verb == "revision":
        command.revision(cfg, message=rest[0] if rest else "change", autogenerate=True)
    else:
        command.upgrade(cfg, "head")


if __name__ == "__main__":
    main()
