"""Test helpers: run a service app in-process, read topics, make databases."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI

from psp_common.auth import Scope, mint
from psp_common.settings import ServiceSettings

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


@contextlib.asynccontextmanager
async def fresh_database(admin_dsn: str) -> AsyncIterator[tuple[str, str]]:
    """A throwaway database for the block: (asyncpg dsn, SQLAlchemy async URL); dropped afterwards."""
    dsn, url = await create_database(admin_dsn)
    try:
        yield dsn, url
    finally:
        await drop_database(admin_dsn, dsn.rsplit("/", 1)[1])


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a throwaway database (terminating its connections)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


ALL_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)


def auth_headers(
    settings: ServiceSettings,
    scopes: tuple[str, ...] | list[str] = ALL_SCOPES,
    *,
    subject: str = "test",
    staff_id: str | None = None,
) -> dict[str, str]:
    """An Authorization header with a token minted under ``settings`` (the app's own auth settings)."""
    return {"Authorization": f"Bearer {mint(settings, subject, list(scopes), staff_id=staff_id)}"}


def client_for(
    app: FastAPI, scopes: tuple[str, ...] | list[str] | None = ALL_SCOPES, base_url: str = "http://test"
) -> httpx.AsyncClient:
    """An in-process client to ``app`` sending a bearer token with ``scopes`` (none when ``scopes`` is None)."""
    headers = auth_headers(app.state.runtime.settings, scopes) if scopes is not None else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers)


@contextlib.asynccontextmanager
async def running(
    app: FastAPI, scopes: tuple[str, ...] | list[str] | None = ALL_SCOPES
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (broker, relay, migrations) and yield an HTTP client to it.

    The client sends a bearer token with ``scopes`` (all four roles by default; None sends no token).
    """
    async with app.router.lifespan_context(app), client_for(app, scopes) as client:
        yield client


async def produce(
    bootstrap: str, topic: str, value: bytes, key: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, int]:
    """Publish raw bytes with a plain aiokafka producer; the (partition, offset) they were written at."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        sent = [(k, v.encode()) for k, v in (headers or {}).items()] or None
        meta = await producer.send_and_wait(topic, value, key=key, headers=sent)
    finally:
        await producer.stop()
    return meta.partition, meta.offset


async def consumed(bootstrap: str, group: str, topic: str, at: tuple[int, int]) -> bool:
    """Whether consumer group ``group`` committed its offset on ``topic`` past ``at`` (partition, offset)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(topic, at[0]))
    finally:
        await consumer.stop()
    return committed is not None and committed > at[1]


def _matches(match: Any, item: dict[str, Any]) -> bool:
    """A message of another shape (another test's poison message on the shared broker) is not a match."""
    try:
        return bool(match(item))
    except (TypeError, KeyError, AttributeError, IndexError):
        return False


def _item(r: Any) -> dict[str, Any]:
    try:
        value: Any = json.loads(r.value)
    except (ValueError, TypeError):
        value = r.value
    return {
        "value": value,
        "raw": r.value,
        "key": r.key,
        "headers": {k: v.decode() for k, v in (r.headers or ())},
        "partition": r.partition,
        "offset": r.offset,
    }


async def read_topic(
    bootstrap: str, topic: str, *, count: int = 1, timeout: float = 30.0, match: Any = None
) -> list[dict[str, Any]]:
    """Read messages from the start of ``topic`` until ``count`` matching ones arrive (or time out).

    Returns dicts with ``value`` (parsed JSON when possible), ``raw``, ``key``, ``headers``, ``partition`` and
    ``offset``.
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
                out.extend(i for i in map(_item, records) if match is None or _matches(match, i))
    finally:
        await consumer.stop()
    return out


async def read_to_end(bootstrap: str, topic: str, *, match: Any = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every message (matching ``match``) written to ``topic`` before the call: read up to the end offsets found
    at the start, so absence is checked without waiting out a timeout (``timeout`` only bounds a stuck read)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        await consumer.topics()  # fetches the metadata partitions_for_topic reads
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        deadline = asyncio.get_running_loop().time() + timeout
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            assert asyncio.get_running_loop().time() < deadline, f"{topic} not read to its end within {timeout}s"
            batch = await consumer.getmany(*parts, timeout_ms=500)
            for tp, records in batch.items():
                out.extend(_item(r) for r in records if r.offset < ends[tp])
    finally:
        await consumer.stop()
    return [i for i in out if match is None or _matches(match, i)]


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


async def scans_of(url: str, statement: Any, params: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(node type, table, rows read) of every scan when PostgreSQL runs ``statement`` (after ANALYZE).

    Rows read = rows the scan returned + rows its filter threw away: what grows if a lookup is not indexed.
    """
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.ext.asyncio import create_async_engine

    sql = statement.params(**params).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True, "render_postcompile": True}
    )
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
            plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))).scalar_one()
    finally:
        await engine.dispose()
    return _scans(plan)


def _scans(plan: Any) -> list[tuple[str, str, int]]:
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found: list[tuple[str, str, int]] = []

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            loops = node.get("Actual Loops", 1)
            read = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
            found.append((node["Node Type"], node["Relation Name"], int(read)))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


async def write_scans(url: str, statement: Any, params: dict[str, Any]) -> list[tuple[str, str, int]]:
    """``scans_of`` for a statement that writes (an UPDATE has no ``.params``): run under ``EXPLAIN ANALYZE`` with
    its parameters bound by the driver (after ANALYZE), in a transaction rolled back."""
    from sqlalchemy import event, text
    from sqlalchemy.ext.asyncio import create_async_engine

    def explain(_c: Any, _cur: Any, sql: str, parameters: Any, _ctx: Any, _many: bool) -> tuple[str, Any]:
        return "EXPLAIN (ANALYZE, FORMAT JSON) " + sql, parameters

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
            event.listen(conn.sync_connection, "before_cursor_execute", explain, retval=True)
            trans = await conn.begin()
            result = await conn.execute(statement, params)
            plan = result.cursor.fetchall()[0][0]  # type: ignore[attr-defined]
            await trans.rollback()
    finally:
        await engine.dispose()
    return _scans(plan)


class Rendezvous:
    """Concurrent transactions meet here so their reads truly overlap before any of them commits.

    Waits until ``parties`` arrived or ``timeout`` passed (a party blocked on a lock never arrives; the others
    then go on alone instead of waiting forever).
    """

    def __init__(self, parties: int, timeout: float = 5.0) -> None:
        self.parties, self.timeout, self.arrived = parties, timeout, 0
        self._all = asyncio.Event()

    async def wait(self) -> None:
        """Arrive and wait for the others (or the timeout)."""
        self.arrived += 1
        if self.arrived >= self.parties:
            self._all.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all.wait(), self.timeout)


def one_by_one(handler: Callable[[Any, Any], Awaitable[None]]) -> Callable[[list[Any], Any], Awaitable[None]]:
    """A set-based handler (``subscribe_events``' ``handler_many``) handing a batch's events to ``handler`` in order,
    for tests about delivery rather than about what a handler does with a batch."""

    async def each(events: list[Any], uow: Any) -> None:
        for event in events:
            await handler(event, uow)

    return each
