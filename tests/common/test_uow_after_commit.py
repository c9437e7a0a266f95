"""After-commit callbacks run only once the transaction committed (a worker is woken for work it can see)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from psp_common.db import UnitOfWork, make_engine, messaging_tables, new_metadata


async def test_after_commit_runs_after_commit_and_never_after_rollback(sqlite_url: str) -> None:
    metadata = new_metadata()
    inbox, outbox = messaging_tables(metadata)
    engine = make_engine(sqlite_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    seen: list[int] = []

    def wake() -> None:  # what the callback sees is committed: a new session reads the inbox row
        seen.append(1)

    try:
        async with UnitOfWork(factory, inbox, outbox) as uow:
            await uow.claim("e1", "t")
            uow.after_commit(wake)
            uow.after_commit(wake)  # registered once
            assert seen == []
            await uow.commit()
        assert seen == [1]
        async with factory() as s:
            assert list((await s.execute(select(inbox.c.event_id))).scalars()) == ["e1"]
        async with UnitOfWork(factory, inbox, outbox) as uow:
            await uow.claim("e2", "t")
            uow.after_commit(wake)  # rolled back: never called
        async with UnitOfWork(factory, inbox, outbox) as uow:
            await uow.commit()  # a later commit of a new unit of work does not run stale callbacks
        assert seen == [1]
    finally:
        await engine.dispose()
