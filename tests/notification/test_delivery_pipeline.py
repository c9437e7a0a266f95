"""Pipelined delivery: a claim reads and leases due pages in one statement, the outcomes of a round are recorded in
one statement, and slots freed by finished sends are refilled while the other pages are still being sent.

The channel here is gated (each page's send waits for its own event), so the order of sends and claims is set by
the test, not by timing; the clock is the manual one, and the poll (dispatch_poll_s) an hour: nothing here waits
for it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, update

from psp_notification import consumed
from psp_notification.adapters.channels import PageMessage
from psp_notification.adapters.orm import assignments
from psp_notification.delivery import Outcome
from tests.notification.support import Env, FakeChannel, app_env, matched
from tests.statements import counting


@dataclass
class GatedChannel(FakeChannel):
    """A console channel whose send to each recipient waits until the test opens that recipient's gate."""

    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    def gate(self, ref: str) -> asyncio.Event:
        return self.gates.setdefault(ref, asyncio.Event())

    async def notify(self, message: PageMessage, address: str) -> None:
        self.started.append(message.recipient_ref)
        await self.gate(message.recipient_ref).wait()
        await super().notify(message, address)
        self.finished.append(message.recipient_ref)


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run (no wall-clock wait) until ``condition`` holds."""
    for _ in range(200_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def _page(env: Env, *refs: str) -> None:
    for ref in refs:
        await env.handle(consumed.matched, matched(primary=ref), env.c.settings, env.clock.now())


async def test_the_next_claim_happens_while_a_chunk_is_still_sending(sqlite_url: str) -> None:
    async with app_env(sqlite_url, dispatch_concurrency=2, dispatch_poll_s=3600) as env:
        gated = GatedChannel("console")
        env.c.dispatcher.router.channels["console"] = gated
        await _page(env, "ps_a", "ps_b", "ps_c")
        delivery = env.c.dispatcher.delivery
        real_settle, claims = delivery.settle, []

        async def settle(*args: Any, **kwargs: Any) -> Any:
            done = await real_settle(*args, **kwargs)
            if done.tried:
                claims.append(([p.recipient_ref for p, _, _ in done.claimed], set(gated.started) - set(gated.finished)))
            return done

        delivery.settle = settle  # type: ignore[method-assign]
        gated.gate("ps_a").set()
        task = asyncio.create_task(env.c.dispatcher.deliver_due(env.clock.now()))
        await until(lambda: "ps_c" in gated.started)
        assert gated.finished == ["ps_a"]  # ps_b is still being sent...
        assert claims[0][0] == ["ps_a", "ps_b"]
        assert claims[1] == (["ps_c"], {"ps_b"})  # ...while ps_a's slot was refilled
        assert [p["state"] for p in await env.pages()] == ["sent", "sending", "sending"]  # ps_a recorded meanwhile
        gated.gate("ps_b").set()
        gated.gate("ps_c").set()
        assert await task == 3
        assert [p["state"] for p in await env.pages()] == ["sent"] * 3


async def test_a_page_written_during_a_call_is_claimed_by_it(sqlite_url: str) -> None:
    """A page written while others are being sent does not wait for the call to end (the wake-up is heard)."""
    async with app_env(sqlite_url, dispatch_concurrency=4, dispatch_poll_s=3600) as env:
        gated = GatedChannel("console")
        env.c.dispatcher.router.channels["console"] = gated
        await _page(env, "ps_a")
        task = asyncio.create_task(env.c.dispatcher.deliver_due(env.clock.now()))
        await until(lambda: "ps_a" in gated.started)
        await _page(env, "ps_late")
        env.c.dispatcher.wake()
        await until(lambda: "ps_late" in gated.started)
        assert gated.finished == []  # ps_a is still being sent
        gated.gate("ps_a").set()
        gated.gate("ps_late").set()
        assert await task == 2


def _kinds(statements: list[str]) -> Counter[str]:
    return Counter(" ".join(s.split()[:2]) for s in statements)


@pytest.mark.postgres
async def test_a_claim_round_is_one_statement_on_pages_whatever_its_size(pg_url: str) -> None:
    for n in (3, 30):
        async with app_env(pg_url, dispatch_concurrency=64) as env:
            await _page(env, *(f"ps_{i}" for i in range(n)))
            with counting(env.c.runtime.engine) as seen:
                done = await env.c.dispatcher.delivery.settle(env.clock.now(), [], 64)
            got = done.claimed
            assert len(got) == done.leased == n
            # Read and leased in one statement, with the assignments' states and the contacts; the links' tokens.
            assert _kinds(seen.seen) == Counter({"WITH due": 1, "INSERT INTO": 1}), seen.seen
            assert all(p.attempts == 1 and p.lease_owner == done.owner for p, _, _ in got)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest) -> str:
    """SQLite and PostgreSQL: the claim statement's RETURNING is written for both."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


async def test_a_claim_reads_each_pages_own_assignment_state_and_contact(any_db: str) -> None:
    """The claim statement brings each page's assignment state and recipient's channels: a page whose assignment is
    no longer paging is cancelled (its round not counted), the others go to their own recipient's channels."""
    async with app_env(any_db, dispatch_concurrency=8) as env:
        refs = []
        for staff in ("E-1", "E-2"):
            hook = {"kind": "webhook", "address": f"https://hooks.test/{staff}"}
            r = await env.client.put(f"/v1/contacts/{staff}", json={"channels": [hook]})
            refs.append(r.json()["staff_ref"])
        await _page(env, *refs, "ps_c")
        [_, settled, _] = await env.pages()
        async with env.c.runtime.uow() as uow:  # the second assignment was closed while its page waited
            query = update(assignments).where(assignments.c.assignment_id == settled["assignment_id"])
            await uow.session.execute(query.values(state="closed"))
            await uow.commit()
        done = await env.c.dispatcher.delivery.settle(env.clock.now(), [], 8)
        assert done.leased == 3
        sent = {page.recipient_ref: [(ch.kind, ch.address) for ch in prefs] for page, prefs, _ in done.claimed}
        assert sent == {refs[0]: [("webhook", "https://hooks.test/E-1")], "ps_c": [("console", "")]}
        states = {p["recipient_ref"]: (p["state"], p["attempts"]) for p in await env.pages()}
        assert states == {refs[0]: ("sending", 1), refs[1]: ("cancelled", 0), "ps_c": ("sending", 1)}


@pytest.mark.postgres
async def test_a_round_of_sent_and_failed_pages_is_recorded_in_one_statement(pg_url: str) -> None:
    async with app_env(pg_url, dispatch_concurrency=8) as env:
        await _page(env, "ps_a", "ps_b", "ps_c", "ps_d")
        env.console.crash = RuntimeError("bug in a channel")  # the first send fails, the other three go out
        with counting(env.c.runtime.engine) as seen:
            assert await env.c.dispatcher.deliver_due(env.clock.now()) == 3
        kinds = _kinds(seen.seen)
        # The marks: one statement, which also reads and locks the sent pages' assignments (no SELECT of its own).
        assert kinds["WITH rec"] == 1 and kinds["UPDATE pages"] == 0, seen.seen
        assert kinds["SELECT assignments.assignment_id,"] == 0, seen.seen
        states = Counter(p["state"] for p in await env.pages())
        assert states == Counter({"sent": 3, "pending": 1})
        [retry] = [p for p in await env.pages() if p["state"] == "pending"]
        assert retry["last_error"] and retry["lease_until"] is None and retry["attempts"] == 1
        sent = [p for p in await env.pages() if p["state"] == "sent"]
        assert all(p["channel"] == "console" and p["ack_deadline"] is not None for p in sent)


@pytest.mark.postgres
async def test_a_lease_that_ran_out_is_claimed_again_and_the_late_mark_is_ignored(pg_url: str) -> None:
    async with app_env(pg_url) as env:
        await _page(env, "ps_a")
        d = env.c.dispatcher
        [page] = await env.pages()
        first = await d.delivery.settle(env.clock.now(), [], 1, only=[page["id"]])  # then the process died
        [claimed] = first.claimed
        assert await d.deliver_due(env.clock.now()) == 0  # the lease is held
        env.clock.advance(seconds=env.c.settings.send_lease_s + 1)
        assert await d.deliver_due(env.clock.now()) == 1  # retried under a new lease, with the same key
        [page] = await env.pages()
        assert page["state"] == "sent" and page["attempts"] == 2 and page["lease_owner"] != first.owner
        assert [m.idempotency_key for m, _ in env.console.sent] == [page["idempotency_key"]]
        late = d.delivery.message(claimed[0], claimed[2])
        assert late.idempotency_key == page["idempotency_key"]
        outcome = Outcome(claimed[0], first.owner, "console", None, env.clock.now())
        late_mark = await d.delivery.settle(env.clock.now(), [outcome], 0)
        assert late_mark.sent == 0 and not late_mark.tried  # the first lease is gone: its mark records nothing
        assert [s for s, _ in await env.statuses()].count("notified") == 1


async def test_finished_sends_are_recorded_a_quarter_of_the_slots_at_a_time(sqlite_url: str) -> None:
    """With 8 slots, finished sends are recorded two at a time while others are still being sent (one mark
    transaction per finished send made a backlog cost a claim and a mark per page)."""
    async with app_env(sqlite_url, dispatch_concurrency=8, dispatch_poll_s=3600) as env:
        gated = GatedChannel("console")
        env.c.dispatcher.router.channels["console"] = gated
        await _page(env, "ps_a", "ps_b", "ps_c", "ps_d")
        delivery = env.c.dispatcher.delivery
        real_settle, marks = delivery.settle, []

        async def settle(now: datetime, outcomes: list[Outcome], *args: Any, **kwargs: Any) -> Any:
            if outcomes:
                marks.append(sorted(o.page.recipient_ref for o in outcomes))
            return await real_settle(now, outcomes, *args, **kwargs)

        delivery.settle = settle  # type: ignore[method-assign]
        task = asyncio.create_task(env.c.dispatcher.deliver_due(env.clock.now()))
        await until(lambda: len(gated.started) == 4)
        gated.gate("ps_a").set()
        await until(lambda: "ps_a" in gated.finished)
        for _ in range(2_000):  # the loop has long seen ps_a finish
            await asyncio.sleep(0)
        gated.gate("ps_b").set()
        await until(lambda: len(marks) == 1)
        assert marks == [["ps_a", "ps_b"]]
        gated.gate("ps_c").set()
        gated.gate("ps_d").set()
        assert await task == 4
        assert marks == [["ps_a", "ps_b"], ["ps_c", "ps_d"]]


async def test_in_a_backlog_a_written_page_waits_for_a_quarter_of_the_slots(sqlite_url: str) -> None:
    """7 of 8 slots busy: a page written then is claimed once a second slot is free, not by a claim of its own."""
    async with app_env(sqlite_url, dispatch_concurrency=8, dispatch_poll_s=3600) as env:
        gated = GatedChannel("console")
        env.c.dispatcher.router.channels["console"] = gated
        await _page(env, *(f"ps_{i}" for i in range(7)))
        task = asyncio.create_task(env.c.dispatcher.deliver_due(env.clock.now()))
        await until(lambda: len(gated.started) == 7)
        await _page(env, "ps_late")
        env.c.dispatcher.wake()
        for _ in range(2_000):
            await asyncio.sleep(0)
        assert "ps_late" not in gated.started
        gated.gate("ps_0").set()
        await until(lambda: "ps_late" in gated.started)
        for ref in [f"ps_{i}" for i in range(1, 7)] + ["ps_late"]:
            gated.gate(ref).set()
        assert await task == 8


@pytest.mark.postgres
async def test_a_round_records_its_pages_and_assignments_and_claims_in_one_transaction_whatever_its_size(
    pg_url: str,
) -> None:
    """Marks, the assignments' changes (notified; undeliverable: the next backup paged) and the claim that refills the
    freed slots (here: those backups' pages, written in the same transaction) are one commit, and as many statements
    for 30 pages as for 3 (one UPDATE of assignments however many page their next backup)."""
    kinds: dict[int, Counter[str]] = {}
    texts: dict[int, list[str]] = {}
    for n in (3, 30):
        async with app_env(pg_url, dispatch_concurrency=64) as env:
            await _page(env, *(f"ps_{i}" for i in range(n)))
            delivery, engine = env.c.dispatcher.delivery, env.c.runtime.engine
            claim = await delivery.settle(env.clock.now(), [], 64)
            got, owner = claim.claimed, claim.owner
            now = env.clock.now()
            outcomes = [  # every other page failed for good, the others went out
                Outcome(page, owner, None, "refused", now, permanent=True)
                if i % 2
                else Outcome(page, owner, "console", None, now)
                for i, (page, _, _) in enumerate(got)
            ]
            before = Counter(s for s, _ in await env.statuses())  # the database is shared by both sizes
            commits: list[object] = []
            committed = commits.append
            event.listen(engine.sync_engine, "commit", committed)
            try:
                with counting(engine) as seen:
                    done = await delivery.settle(now, outcomes, 64)
            finally:
                event.remove(engine.sync_engine, "commit", committed)
            assert len(commits) == 1
            assert done.sent == n - n // 2 and done.gave_up and done.tried and done.leased == n // 2
            assert [p.recipient_ref for p, _, _ in done.claimed] == ["ps_backup1"] * (n // 2)
            assert (Counter(s for s, _ in await env.statuses()) - before)["notified"] == n - n // 2
            ids = {p.id for p, _, _ in got} | {p.id for p, _, _ in done.claimed}
            states = Counter(p["state"] for p in await env.pages() if p["id"] in ids)
            assert states == Counter({"sent": n - n // 2, "failed": n // 2, "sending": n // 2})
            kinds[n], texts[n] = seen.kinds(), seen.seen
    assert kinds[3] == kinds[30], (kinds[3], kinds[30])
    assert texts[3] == texts[30]  # no IN list whose length follows the round's: one statement text per step
    # The marks, which read and lock the assignments too (PostgreSQL: no SELECT of assignments of its own); the
    # failed pages' answers (expired); the assignments that page their next backup.
    assert sum(t.startswith("WITH rec AS (UPDATE pages") for t in texts[30]) == 1, texts[30]
    assert kinds[30]["UPDATE pages"] == 1 and kinds[30]["SELECT assignments"] == 0, kinds[30]
    assert kinds[30]["UPDATE assignments"] == 1, kinds[30]
