"""Page links: random single-use tokens stored hashed, bound to page, recipient and action, private responses."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from psp_common.logs import RedactingFilter
from psp_notification import consumed
from psp_notification.adapters.channels import ConsoleChannel
from psp_notification.adapters.orm import assignments, cases, metadata, page_tokens
from psp_notification.domain.model import page_key
from tests.notification.support import Env, app_env, matched, path_of

OLD_DEFAULT_KEY = b"dev-only-page-signing-key-change-me"  # the key main shipped in its source


def token_of(link: str) -> str:
    return path_of(link).split("/")[3]


async def sent_page(env: Env, **over: Any) -> tuple[Any, dict[str, str]]:
    """Match a case, send the primary's page; the event and the page's links."""
    event = matched(**over)
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    await env.tick()
    return event, env.console.to(event.primary.supporter_ref)[-1].links


async def rows(env: Env, table: Any) -> list[dict[str, Any]]:
    async with env.c.runtime.session() as s:
        return [dict(r._mapping) for r in (await s.execute(select(table))).all()]


async def everything_stored(env: Env) -> str:
    """Every row of every table of the service, as text."""
    return "".join([str(await rows(env, t)) for t in metadata.sorted_tables])


async def case_state(env: Env, event: Any) -> tuple[str, str, str | None]:
    [case] = [c for c in await rows(env, cases) if c["case_id"] == str(event.case_id)]
    [a] = [a for a in await rows(env, assignments) if a["assignment_id"] == str(event.assignment_id)]
    return case["status"], a["state"], a["acknowledged_by"]


async def test_a_link_forged_from_status_events_and_the_default_key_is_refused(env: Env) -> None:
    event, _ = await sent_page(env)
    # What anyone reading psp.outreach-status.v1 knows: the assignment and the paged supporter's pseudonym.
    [assigned, _notified] = await env.published()
    key = page_key(assigned["assignment_id"], assigned["supporter_ref"], "page")
    expires = int((env.clock.now() + timedelta(hours=1)).timestamp())
    mac = hmac.new(OLD_DEFAULT_KEY, f"psp-page-link:{key}:{expires}".encode(), hashlib.sha256).digest()
    forged = f"{key}.{expires}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    for action in ("ack", "decline"):
        r = await env.client.post(f"/v1/pages/{forged}/{action}")
        assert r.status_code == 403 and r.json()["errors"][0]["field"] == "token"
    _, links = await sent_page(env)
    token = token_of(links["ack"])
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    r = await env.client.post(path_of(links["ack"]).replace(token, altered))
    assert r.status_code == 403 and r.json()["errors"][0] == {
        "field": "token",
        "reason": "unknown link: altered, withdrawn or not issued by this service",
    }
    assert await case_state(env, event) == ("notified", "paging", None)
    assert [s for s, _ in await env.statuses()][:2] == ["assigned", "notified"]


async def test_only_the_hash_of_each_random_token_is_stored_and_nothing_published_carries_it(env: Env) -> None:
    _, links = await sent_page(env)
    ack, decline = token_of(links["ack"]), token_of(links["decline"])
    assert ack != decline and len(ack) >= 43 and len(decline) >= 43  # 32 random bytes each, base64url
    stored = await everything_stored(env)
    published = str(await env.published()) + str(await env.published("psp.safety-call-feed.v1"))
    for token in (ack, decline):
        assert token not in stored and token not in published
    [(env_page_id, sha)] = {
        (r["page_id"], r["token_hash"]) for r in await rows(env, page_tokens) if r["action"] == "ack"
    }
    assert sha == hashlib.sha256(ack.encode()).hexdigest()
    [page] = await env.pages()
    assert env_page_id == page["id"]


async def test_every_delivery_round_issues_fresh_tokens(sqlite_url: str) -> None:
    async with app_env(sqlite_url, send_retry_s=0) as env:
        event = matched()
        env.console.failing.add("*")
        await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
        await env.tick()  # round 1 fails: its tokens were issued (the channel may still have delivered)
        env.console.failing.clear()
        await env.tick(seconds=1)
        [(message, _)] = env.console.sent
        tokens = await rows(env, page_tokens)
        assert len(tokens) == 4 and len({t["token_hash"] for t in tokens}) == 4
        assert (await env.client.post(path_of(message.links["ack"]))).status_code == 200


async def test_an_expired_link_is_refused_by_its_stored_expiry(env: Env) -> None:
    event, links = await sent_page(env)
    [row] = [r for r in await rows(env, page_tokens) if r["action"] == "ack"]
    assert row["expires_at"].replace(tzinfo=None) == (
        env.clock.now() + timedelta(minutes=env.c.settings.token_ttl_minutes)
    ).replace(tzinfo=None)
    # The stored expiry decides, not anything in the link: withdrawing a link server-side takes effect at once.
    async with env.c.runtime.uow() as uow:
        await uow.session.execute(
            update(page_tokens).where(page_tokens.c.action == "decline").values(expires_at=env.clock.now())
        )
        await uow.commit()
    r = await env.client.post(path_of(links["decline"]))
    assert r.status_code == 410 and r.json()["errors"][0] == {"field": "token", "reason": "link expired"}
    env.clock.advance(minutes=env.c.settings.token_ttl_minutes)
    assert (await env.client.get(path_of(links["ack"]))).status_code == 410
    r = await env.client.post(path_of(links["ack"]))
    assert r.status_code == 410 and r.json()["errors"][0]["reason"] == "link expired"
    assert (await case_state(env, event))[2] is None


async def test_a_used_ack_link_is_refused_and_a_get_never_uses_it(env: Env) -> None:
    event, links = await sent_page(env)
    ack = path_of(links["ack"])
    for _ in range(2):  # a mail scanner prefetching the link: form only, link still usable
        r = await env.client.get(ack)
        assert r.status_code == 200 and '<form method="post">' in r.text
    assert (await env.client.post(ack)).json()["result"] == "acknowledged"
    for method in ("GET", "POST"):
        r = await env.client.request(method, ack)
        assert r.status_code == 410 and r.json()["errors"][0] == {"field": "token", "reason": "link already used"}
    assert [s for s, _ in await env.statuses()] == ["assigned", "notified", "acknowledged"]
    assert await case_state(env, event) == ("acknowledged", "acknowledged", "ps_primary")


async def test_concurrent_answers_with_one_link_act_once(pg_url: str) -> None:
    async with app_env(pg_url) as env:
        _, links = await sent_page(env)
        answers = await asyncio.gather(*(env.client.post(path_of(links["decline"])) for _ in range(4)))
        assert sorted(r.status_code for r in answers) == [200, 410, 410, 410]
        assert [s for s, _ in await env.statuses()].count("declined") == 1
        await env.tick()
        assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_primary", "ps_backup1"]


async def test_a_link_acts_only_on_its_own_page_recipient_and_action(env: Env) -> None:
    a_event, a_links = await sent_page(env, primary="ps_ann", backups=())
    b_event, b_links = await sent_page(env, primary="ps_bob", backups=())
    r = await env.client.post(path_of(a_links["ack"]).replace("/ack", "/decline"))  # ack token, decline route
    assert r.status_code == 403 and r.json()["errors"][0] == {
        "field": "token",
        "reason": "this link is for another action, not decline",
    }
    assert (await env.client.get(path_of(a_links["decline"]).replace("/decline", "/ack"))).status_code == 403
    # A stored link moved onto another person's page (a tampered row) acts on neither.
    [b_page] = [p for p in await env.pages() if p["recipient_ref"] == "ps_bob"]
    async with env.c.runtime.uow() as uow:
        a_hash = hashlib.sha256(token_of(a_links["ack"]).encode()).hexdigest()
        moved = update(page_tokens).where(page_tokens.c.token_hash == a_hash).values(page_id=b_page["id"])
        await uow.session.execute(moved)
        await uow.commit()
    assert (await env.client.post(path_of(a_links["ack"]))).status_code == 403
    assert await case_state(env, a_event) == ("notified", "paging", None)
    assert await case_state(env, b_event) == ("notified", "paging", None)
    assert (await env.client.post(path_of(b_links["ack"]))).json()["result"] == "acknowledged"
    assert await case_state(env, a_event) == ("notified", "paging", None)


async def test_page_link_responses_are_private(env: Env) -> None:
    _, links = await sent_page(env)
    ack = path_of(links["ack"])
    answers = [
        await env.client.get(ack),
        await env.client.post(ack),
        await env.client.post(ack),  # 410
        await env.client.get("/v1/pages/not-a-token/decline"),  # 403
        await env.client.get("/v1/pages/" + "x" * 300 + "/ack"),  # 422
    ]
    assert [r.status_code for r in answers] == [200, 200, 410, 403, 422]
    for r in answers:
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    other = await env.client.get("/v1/deliveries")
    assert "referrer-policy" not in other.headers


async def test_tokens_never_reach_the_audit_log_or_a_log_line(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, links = await sent_page(env)
    tokens = [token_of(links["ack"]), token_of(links["decline"])]
    await env.client.get(path_of(links["ack"]))
    await env.client.post(path_of(links["ack"]))
    await env.client.post(path_of(links["ack"]))
    await env.client.post(path_of(links["decline"]).replace("/decline", "/ack"))
    audit = (await env.client.get("/v1/audit")).json()["items"]
    page_rows = [e for e in audit if e["resource"].startswith("/v1/pages/")]
    assert len(page_rows) == 4
    assert {e["resource"] for e in page_rows} == {"/v1/pages/{token}/ack token=[redacted]"}
    assert [e["actor"] for e in reversed(page_rows)] == ["page-link:ps_primary"] * 2 + ["anonymous"] * 2
    # The console channel (a log line) and the production log filter keep the token out too.
    message = env.console.sent[0][0]
    await ConsoleChannel().notify(message, "")
    filtered = logging.LogRecord("psp.x", logging.ERROR, __file__, 1, "failed for %s", (links["ack"],), None)
    RedactingFilter().filter(filtered)
    # The service's own log records (the test client's httpx lines are the caller's, not the service's).
    service_lines = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    text = service_lines + filtered.getMessage() + str(audit)
    assert "/v1/pages/[token]/ack" in caplog.text and "/v1/pages/[token]/ack" in filtered.getMessage()
    for token in tokens:
        assert token not in text


async def test_a_late_decline_after_another_supporter_acknowledged_changes_nothing(env: Env) -> None:
    event, primary = await sent_page(env)
    await env.tick(minutes=31)  # no answer: backup1 paged
    backup = env.console.to("ps_backup1")[0].links
    assert (await env.client.post(path_of(backup["ack"]))).json()["result"] == "acknowledged"
    before = await env.statuses()
    r = await env.client.post(path_of(primary["decline"]))
    assert r.status_code == 200 and r.json()["result"] == "not needed: another supporter has taken the case"
    assert await env.statuses() == before
    assert await case_state(env, event) == ("acknowledged", "acknowledged", "ps_backup1")
    await env.tick(minutes=1)
    assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_primary", "ps_backup1"]


async def test_a_late_decline_after_escalation_leaves_the_case_escalated(env: Env) -> None:
    event, primary = await sent_page(env, backups=())
    await env.tick(minutes=31)  # nobody left: coordinator paged
    assert await case_state(env, event) == ("escalated", "escalated", None)
    assert (await env.client.post(path_of(primary["decline"]))).json()["result"] == "declined"
    assert await case_state(env, event) == ("escalated", "escalated", None)
    assert [s for s, _ in await env.statuses()][-2:] == ["escalated", "declined"]  # the coordinator still learns it


async def test_a_late_ack_is_taken_after_escalation_and_refused_once_closed(env: Env) -> None:
    event, primary = await sent_page(env, backups=())
    await env.tick(minutes=31)
    assert (await env.client.post(path_of(primary["ack"]))).json()["result"] == "acknowledged"
    assert await case_state(env, event) == ("acknowledged", "acknowledged", "ps_primary")
    other, links = await sent_page(env, primary="ps_cat", backups=())
    assert (await env.client.post(f"/v1/assignments/{other.assignment_id}/close")).status_code == 200
    for action in ("ack", "decline"):
        r = await env.client.post(path_of(links[action]))
        assert r.status_code == 409 and r.json()["errors"][0] == {
            "field": "token",
            "reason": "the case is already closed",
        }
    # refused answers leave the link unused: the state, not the link, said no
    assert all(t["used_at"] is None for t in await rows(env, page_tokens) if t["recipient_ref"] == "ps_cat")


async def test_retention_forgets_the_links_of_purged_cases(env: Env) -> None:
    old, _ = await sent_page(env, primary="ps_ann", backups=())
    assert (await env.client.post(f"/v1/assignments/{old.assignment_id}/close")).status_code == 200
    env.clock.advance(days=60)
    await sent_page(env, primary="ps_bob", backups=())  # closed later or still open: its links stay
    env.clock.advance(days=31)
    assert len(await rows(env, page_tokens)) == 4
    assert await env.c.retention.tick() == 1
    assert [t["recipient_ref"] for t in await rows(env, page_tokens)] == ["ps_bob", "ps_bob"]
