"""Crash between claim and mark-sent, contact directory (page links: test_page_links.py)."""

from __future__ import annotations

import logging

import pytest

from psp_notification import consumed
from psp_notification.dispatcher import Dispatcher
from tests.notification.support import Env, matched


class Crash(BaseException):
    """Stands for the process dying inside the channel call."""


async def test_crash_between_claim_and_mark_sent_resends_with_the_same_key(env: Env) -> None:
    await env.handle(consumed.matched, matched(), env.c.settings, env.clock.now())
    env.console.crash = Crash()
    with pytest.raises(Crash):
        await env.tick()
    [page] = await env.pages()
    assert page["state"] == "sending" and page["attempts"] == 1  # the claim was committed
    # A restarted process: a new dispatcher on the same database.
    restarted = Dispatcher(env.c.runtime.uow, env.c.settings, env.clock, env.c.dispatcher.router)
    assert await restarted.tick() == 0  # lease still held
    env.clock.advance(seconds=env.c.settings.send_lease_s + 1)
    assert await restarted.tick() == 1
    assert await restarted.tick() == 0
    key = page["idempotency_key"]
    assert env.console.attempts == [key, key]  # at least once, never a second key
    assert [m.idempotency_key for m, _ in env.console.sent] == [key]
    [page] = await env.pages()
    assert page["state"] == "sent" and page["attempts"] == 2
    assert [s for s, _ in await env.statuses()] == ["assigned", "notified"]


async def test_late_mark_sent_from_a_lost_lease_does_not_double_notify(env: Env) -> None:
    await env.handle(consumed.matched, matched(), env.c.settings, env.clock.now())
    d = env.c.dispatcher
    [page] = await env.pages()
    first = await d.delivery.settle(env.clock.now(), [], 1, only=[page["id"]])
    assert first.leased == 1 and first.claimed[0][0].lease_owner == first.owner
    again = await d.delivery.settle(env.clock.now(), [], 1, only=[page["id"]])
    assert again.leased == 0 and again.claimed == []  # held by the first lease


async def test_contact_directory_is_keyed_by_pseudonym_and_validated(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="psp")
    body = {
        "channels": [
            {"kind": "email", "address": "dana@hospital.example"},
            {"kind": "sms", "address": "+14165550100"},
            {"kind": "console"},
        ]
    }
    r = await env.client.put("/v1/contacts/E-200", json=body)
    assert r.status_code == 200
    ref = r.json()["staff_ref"]
    assert ref == env.c.pseudo.pseudonym("E-200") and "dana@" not in r.text
    r = await env.client.get("/v1/contacts/e-200 ")
    assert r.status_code == 200 and [c["kind"] for c in r.json()["channels"]] == ["email", "sms", "console"]
    assert r.json()["channels"][0]["address"] == "dana@hospital.example"
    assert (await env.client.get("/v1/contacts/E-404")).status_code == 404
    bad = {"channels": [{"kind": "sms", "address": "call me maybe"}, {"kind": "pigeon", "address": "x"}]}
    r = await env.client.put("/v1/contacts/E-201", json=bad)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert "channels.0" in fields and "channels.1.kind" in fields and "call me maybe" not in r.text
    r = await env.client.put("/v1/contacts/E-201", json={"channels": []})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "channels"
    # Stored channels are tried in order (email and sms are not wired in this app, so the console entry
    # delivers); no address reaches a service log line, the page, a delivery row or a status event.
    await env.handle(consumed.matched, matched(primary=ref), env.c.settings, env.clock.now())
    await env.tick()
    [(message, address)] = env.console.sent
    assert message.recipient_ref == ref and address == ""
    text = caplog.text + str(await env.pages()) + str(await env.published())
    assert "dana@" not in text and "5550100" not in text
    assert (await env.client.get("/v1/deliveries")).json()["items"][0]["channel"] == "console"


async def test_no_contact_uses_the_default_channel(env: Env) -> None:
    assert env.c.settings.default_channel == "console"
    await env.handle(consumed.matched, matched(primary="ps_unknown"), env.c.settings, env.clock.now())
    await env.tick()
    assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_unknown"]


async def test_asyncapi_documents_inputs_and_outputs(env: Env) -> None:
    doc = (await env.client.get("/asyncapi.json")).json()
    text = str(doc)
    for topic in (
        "psp.matching.supporter-matched.v1",
        "psp.matching.supporter-unmatched.v1",
        "psp.rules.outreach-requested.v1",
        "psp.outreach-status.v1",
        "psp.safety-call-feed.v1",
    ):
        assert topic in text
    assert "SafetyCallFeedPublished" in text and "psp-notification" in text
