"""Each service's Alembic migrations build exactly the tables its ORM declares (PostgreSQL), and backfill."""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from psp_common.migrations import alembic_config, upgrade_async

SERVICES = ["psp_listener", "psp_rules", "psp_matching", "psp_notification", "psp_console"]


def _diff(connection: sa.Connection, metadata: sa.MetaData) -> list[Any]:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    return [d for d in compare_metadata(ctx, metadata) if d[0] != "remove_table" or d[1].name != "alembic_version"]


@pytest.mark.parametrize("package", SERVICES)
async def test_migrations_match_the_orm(package: str, pg_url: str) -> None:
    orm = importlib.import_module(f"{package}.adapters.orm")
    migrations = Path(importlib.import_module(f"{package}.bootstrap").MIGRATIONS)
    await upgrade_async(migrations, pg_url)
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff, orm.metadata) == []
    finally:
        await engine.dispose()


async def test_matching_0003_backfills_the_continuity_index(pg_url: str) -> None:
    from psp_matching.bootstrap import MIGRATIONS

    cfg = alembic_config(MIGRATIONS, pg_url)
    await _run(command.upgrade, cfg, "0002")
    engine = create_async_engine(pg_url)
    a = str(uuid.uuid4())
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO assignments (assignment_id, case_id, status, urgency, primary_ref, team,"
                    " supported, candidates, created_at) VALUES (:a, :c, 'active', 'immediate', 'ps_s',"
                    " '[\"ps_s\"]', '[\"ps_e1\", \"ps_e2\"]', '[]', :t)"
                ),
                {"a": a, "c": str(uuid.uuid4()), "t": datetime(2026, 11, 1, tzinfo=UTC)},
            )
        await _run(command.upgrade, cfg, "head")
        async with engine.connect() as conn:
            got = (await conn.execute(sa.text("SELECT assignment_id, person_ref FROM supported_people"))).all()
        assert sorted(got) == [(a, "ps_e1"), (a, "ps_e2")]
        await _run(command.downgrade, cfg, "0002")  # and the way back works
    finally:
        await engine.dispose()


async def _run(fn: Any, *args: Any) -> None:
    import asyncio

    await asyncio.to_thread(fn, *args)


async def test_notification_0007_gives_people_loaded_before_scim_an_id(pg_url: str) -> None:
    from psp_notification.bootstrap import MIGRATIONS

    cfg = alembic_config(MIGRATIONS, pg_url)
    await _run(command.upgrade, cfg, "0006")
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            for ref in ("ps_a", "ps_b"):
                await conn.execute(
                    sa.text(
                        "INSERT INTO directory (staff_ref, key_id, display_name, email, source, updated_at)"
                        " VALUES (:r, 'k1', 'Someone', 'a@b.example', 'csv', :t)"
                    ),
                    {"r": ref, "t": datetime(2026, 11, 29, tzinfo=UTC)},
                )
        await _run(command.upgrade, cfg, "head")
        async with engine.connect() as conn:
            ids = (await conn.execute(sa.text("SELECT scim_id FROM directory"))).scalars().all()
        assert len(set(ids)) == 2 and all(ids), "every person has a distinct SCIM id"
        await _run(command.downgrade, cfg, "0006")
    finally:
        await engine.dispose()
