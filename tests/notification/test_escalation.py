"""Paging order, ack window, exhaustion -> coordinator, decline, contact deadline, check-ins (fake clock)."""

from __future__ import annotations

from psp_notification import consumed
from tests.notification.support import Env, matched, path_of


async def test_primary_paged_once_with_assigned_and_notified(env: Env) -> None:
    event = matched()
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    assert env.console.sent == []  # the subscriber only writes rows
    assert await env.tick() == 1
    assert await env.tick() == 0
    assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_primary"]
    message = env.console.sent[0][0]
    assert "colleague may need peer support" in message.text and "ICU" not in message.text
    assert message.links["ack"].startswith("http://psp.test/v1/pages/")
    assert await env.statuses() == [("assigned", "ps_primary"), ("notified", "ps_primary")]
    r = await env.client.get("/v1/deliveries")
    [item] = r.json()["items"]
    assert item["state"] == "sent" and item["channel"] == "console" and item["supporter_ref"] == "ps_primary"
    assert item["assignment_id"] == str(event.assignment_id)


async def test_no_ack_within_window_pages_next_backup_then_coordinator(env: Env) -> None:
    await env.handle(consumed.matched, matched(backups=("ps_b1",)), env.c.settings, env.clock.now())
    await env.tick()
    await env.tick(minutes=29)
    assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_primary"]
    await env.tick(minutes=2)
    assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_primary", "ps_b1"]
    await env.tick(minutes=31)
    refs = [m.recipient_ref for m, _ in env.console.sent]
    assert refs == ["ps_primary", "ps_b1", "coordinator"]
    assert env.console.sent[-1][0].purpose == "escalation"
    statuses = [s for s, _ in await env.statuses()]
    assert statuses == ["assigned", "notified", "assigned", "notified", "escalated"]
    await env.tick(hours=1)
    assert len(env.console.sent) == 3  # nobody paged twice
    responses = [p["response"] for p in await env.pages() if p["purpose"] == "page"]
    assert responses == ["expired", "expired"]


async def test_ack_window_is_configurable(sqlite_url: str) -> None:
    from tests.notification.support import app_env

    async with app_env(sqlite_url, ack_window_minutes=5) as env:
        await env.handle(consumed.matched, matched(), env.c.settings, env.clock.now())
        await env.tick()
        await env.tick(minutes=6)
        assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_primary", "ps_backup1"]


async def test_acknowledge_stops_paging_and_second_ack_is_refused(env: Env) -> None:
    event = matched()
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    await env.tick()
    await env.tick(minutes=31)  # backup1 paged
    first, backup = env.console.sent[0][0], env.console.sent[1][0]
    r = await env.client.post(path_of(backup.links["ack"]))
    assert r.status_code == 200 and r.json()["result"] == "acknowledged"
    r = await env.client.post(path_of(backup.links["ack"]))  # the link is single-use
    assert r.status_code == 410 and r.json()["errors"][0] == {"field": "token", "reason": "link already used"}
    r = await env.client.post(path_of(first.links["ack"]))
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "token"
    await env.tick(hours=2)
    assert len(env.console.sent) == 2
    assert ("acknowledged", "ps_backup1") in await env.statuses()
    r = await env.client.get(f"/v1/cases/{event.case_id}/status")
    assert r.json()["status"] == "acknowledged"


async def test_decline_pages_the_next_backup_at_once(env: Env) -> None:
    await env.handle(consumed.matched, matched(), env.c.settings, env.clock.now())
    await env.tick()
    link = path_of(env.console.sent[0][0].links["decline"])
    r = await env.client.get(link)  # a GET (mail scanners prefetch links) only shows a confirmation form
    assert r.status_code == 200 and '<form method="post">' in r.text
    await env.tick()
    assert len(env.console.sent) == 1
    r = await env.client.post(link)
    assert r.status_code == 200 and r.json()["result"] == "declined"
    await env.tick()
    assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_primary", "ps_backup1"]
    assert ("declined", "ps_primary") in await env.statuses()


async def test_same_assignment_twice_pages_nobody_twice(env: Env) -> None:
    event = matched(primary="ps_x", backups=("ps_x", "ps_y"))
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    again = event.model_copy(update={"event_id": matched().event_id})
    await env.handle(consumed.matched, again, env.c.settings, env.clock.now())
    await env.tick()
    await env.tick(minutes=31)
    assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_x", "ps_y"]


async def test_contact_deadline_missed_escalates_to_coordinator_once(env: Env) -> None:
    event = matched()
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    await env.tick()
    await env.client.post(path_of(env.console.sent[0][0].links["ack"]))
    await env.tick(hours=11, minutes=59)
    assert len(env.console.sent) == 1
    await env.tick(minutes=2)
    await env.tick(minutes=1)
    assert [(m.recipient_ref, m.purpose) for m, _ in env.console.sent][1:] == [("coordinator", "contact_overdue")]
    assert (await env.statuses())[-1] == ("escalated", None)


async def test_contacted_schedules_checkins_and_close_cancels_the_rest(env: Env) -> None:
    event = matched()
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    await env.tick()
    await env.client.post(path_of(env.console.sent[0][0].links["ack"]))
    r = await env.client.post(f"/v1/assignments/{event.assignment_id}/contacted")
    assert r.status_code == 200 and r.json()["result"] == "contacted"
    await env.tick(hours=23)
    assert len(env.console.sent) == 1
    await env.tick(hours=1, seconds=1)
    assert [(m.recipient_ref, m.purpose) for m, _ in env.console.sent][1:] == [("ps_primary", "checkin")]
    r = await env.client.post(f"/v1/assignments/{event.assignment_id}/close")
    assert r.json()["result"] == "closed"
    await env.tick(hours=100)
    assert len(env.console.sent) == 2  # the 72 h reminder was cancelled, no contact-deadline escalation
    states = sorted(p["state"] for p in await env.pages())
    assert states == ["cancelled", "sent", "sent"]
    assert [s for s, _ in await env.statuses()][-2:] == ["contacted", "closed"]
    r = await env.client.post(f"/v1/assignments/{event.assignment_id}/contacted")
    assert r.json()["result"] == "already contacted"
    r = await env.client.post("/v1/assignments/00000000-0000-0000-0000-000000000000/close")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "assignment_id"


async def test_unmatched_pages_the_coordinator(env: Env) -> None:
    from psp_common.events.matching import SupporterUnmatched

    base = matched()
    event = SupporterUnmatched(
        occurred_at=base.occurred_at,
        correlation_id=base.correlation_id,
        case_id=base.case_id,
        facility="GEN",
        unit="ED",
        supported=("ps_c",),
        urgency="immediate",
        mode="group",
        reasons=("nobody on shift",),
    )
    await env.handle(consumed.unmatched, event, env.clock.now())
    await env.tick()
    [(message, _)] = env.console.sent
    assert message.recipient_ref == "coordinator" and message.purpose == "unmatched"
    assert await env.statuses() == [("unmatched", None)]


async def test_failing_channels_fall_through_then_retry_then_next_backup(sqlite_url: str) -> None:
    from tests.notification.support import app_env

    async with app_env(sqlite_url, send_max_attempts=2, send_retry_s=60) as env:
        r = await env.client.put(
            "/v1/contacts/E-1",
            json={"channels": [{"kind": "webhook", "address": "https://hooks.example/down"}, {"kind": "console"}]},
        )
        assert r.status_code == 200
        ref = r.json()["staff_ref"]
        r = await env.client.put(
            "/v1/contacts/E-2", json={"channels": [{"kind": "webhook", "address": "https://hooks.example/down"}]}
        )
        ref2 = r.json()["staff_ref"]
        env.webhook.failing.add("https://hooks.example/down")
        await env.handle(
            consumed.matched, matched(primary=ref, backups=(ref2, "ps_z")), env.c.settings, env.clock.now()
        )
        await env.tick()  # webhook fails, console works
        assert [m.recipient_ref for m, _ in env.console.sent] == [ref]
        await env.tick(minutes=31)  # ref2 paged: its only channel fails
        assert len(env.webhook.attempts) == 2
        await env.tick(seconds=59)
        assert len(env.webhook.attempts) == 2  # backoff not over
        await env.tick(seconds=2)  # second round fails -> failed -> next backup
        assert env.webhook.attempts[-1] == env.webhook.attempts[-2] and len(env.webhook.attempts) == 3
        await env.tick()
        assert [m.recipient_ref for m, _ in env.console.sent] == [ref, "ps_z"]
        failed = [p for p in await env.pages() if p["recipient_ref"] == ref2]
        assert failed[0]["state"] == "failed" and "refused" in failed[0]["last_error"]
        assert "hooks.example" not in failed[0]["last_error"]


async def test_i_cant_after_acknowledging_is_a_hand_back_and_reopens_paging(env: Env) -> None:
    """The decline link after acknowledging ("I can't") hands the case back: 'handed_back', never 'declined'."""
    event = matched(backups=("ps_b1",))
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    await env.tick()
    links = env.console.sent[0][0].links
    assert (await env.client.post(path_of(links["ack"]))).json()["result"] == "acknowledged"
    assert (await env.client.post(path_of(links["decline"]))).json()["result"] == "handed back"
    await env.tick()
    assert [m.recipient_ref for m, _ in env.console.sent] == ["ps_primary", "ps_b1"]
    r = await env.client.get("/v1/deliveries", params={"assignment_id": str(event.assignment_id), "state": "sent"})
    assert [(i["supporter_ref"], i["response"]) for i in r.json()["items"]] == [
        ("ps_b1", None),
        ("ps_primary", "acknowledged"),
    ]
    assert (await env.client.get("/v1/deliveries", params={"state": "failed"})).json()["items"] == []
    statuses = await env.statuses()
    assert [s for s, _ in statuses][-3:] == ["handed_back", "assigned", "notified"]
    assert ("handed_back", "ps_primary") in statuses and "declined" not in [s for s, _ in statuses]
    r = await env.client.get(f"/v1/cases/{event.case_id}/status")
    assert r.json()["status"] == "notified"
