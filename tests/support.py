"""Test helpers: run a service app in-process, read topics, make databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def pg_dsn() -> str:
    """Admin DSN of the test PostgreSQL server."""
    return os.environ.get("PSP_TEST_POSTGRES_DSN", PG_DEFAULT)


async def create_database(admin_dsn: str) -> tuple[str, str]:
    """Create a throwaway database; return (asyncpg dsn, SQLAlchemy async URL)."""
    name = "psp_t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_dsn.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    return dsn, dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a throwaway database (terminating its connections)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (broker, relay, migrations) and yield an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def produce(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    """Publish raw bytes with a plain aiokafka producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, *, count: int = 1, timeout: float = 30.0, match: Any = None
) -> list[dict[str, Any]]:
    """Read messages from the start of ``topic`` until ``count`` matching ones arrive (or time out).

    Returns dicts with ``value`` (parsed JSON when possible), ``key`` and ``headers``.
    """
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < count and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    try:
                        value: Any = json.loads(r.value)
                    except (ValueError, TypeError):
                        value = r.value
                    item = {
                        "value": value,
                        "raw": r.value,
                        "key": r.key,
                        "headers": {k: v.decode() for k, v in (r.headers or ())},
                    }
                    if match is None or match(item):
                        out.append(item)
    finally:
        await consumer.stop()
    return out


async def eventually(predicate: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Await ``predicate()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
