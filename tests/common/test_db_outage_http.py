"""A dead pooled database connection answers 503 + Retry-After once (nothing stored), then the pool recovers."""

from __future__ import annotations

import asyncpg
import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from psp_common.db import make_engine
from psp_common.http import install_error_handlers


async def test_terminated_connection_is_503_then_recovers(pg_url: str, pg_admin_dsn: str) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/one")
    async def one() -> dict[str, int]:
        async with engine.connect() as conn:
            return {"one": int((await conn.execute(sa.text("SELECT 1"))).scalar_one())}

    @app.get("/bad")
    async def bad() -> dict[str, int]:
        async with engine.connect() as conn:  # a programming error stays a 500, not a 'retry later'
            await conn.execute(sa.text("SELECT no_such_column FROM pg_class"))
        return {}

    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/one")).json() == {"one": 1}
            name = pg_url.rsplit("/", 1)[1]
            admin = await asyncpg.connect(pg_admin_dsn)
            try:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", name
                )
            finally:
                await admin.close()
            assert killed >= 1
            r = await client.get("/one")
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert r.json()["errors"][0]["field"] == "<service>"
            assert (await client.get("/one")).json() == {"one": 1}  # the pool replaced the connection
            assert (await client.get("/bad")).status_code == 500
    finally:
        await engine.dispose()
