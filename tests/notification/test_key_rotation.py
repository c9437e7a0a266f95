"""Notification after a pseudonym key rotation: contacts stored under k1 or k2 reach the supporter matching pages."""

from __future__ import annotations

from psp_common.events.matching import Candidate
from psp_common.rekey import rekey
from psp_notification import consumed
from psp_notification.rekey import apply as rekey_notification
from psp_notification.settings import NotificationSettings
from tests.notification.support import app_env, matched
from tests.rotation import AFTER, BEFORE, retired, rotated
from tests.support import auth_headers

HOOK_OLD = "https://hooks.example/old-phone"
HOOK_NEW = "https://hooks.example/new-phone"


def hook(address: str) -> dict[str, list[dict[str, str]]]:
    return {"channels": [{"kind": "webhook", "address": address}]}


async def test_contact_changed_after_rotation_reaches_a_supporter_rostered_under_the_old_key(sqlite_url: str) -> None:
    async with app_env(sqlite_url) as before:
        assert (await before.client.put("/v1/contacts/S-1", json=hook(HOOK_OLD))).status_code == 200
    async with app_env(sqlite_url, **rotated()) as after:
        r = await after.client.put("/v1/contacts/S-1", json=hook(HOOK_NEW))  # the supporter's new number
        assert r.status_code == 200 and r.json()["staff_ref"] == AFTER.pseudonym("S-1")
        # matching still pages them under the roster ref they were registered with (k1)
        event = matched(primary=BEFORE.pseudonym("S-1"), backups=())
        await after.handle(consumed.matched, event, after.c.settings, after.clock.now())
        await after.tick()
        assert [address for _, address in after.webhook.sent] == [HOOK_NEW]
        assert after.console.sent == []


async def test_contact_stored_before_rotation_reaches_a_supporter_rostered_after_it(sqlite_url: str) -> None:
    async with app_env(sqlite_url) as before:
        assert (await before.client.put("/v1/contacts/S-2", json=hook(HOOK_OLD))).status_code == 200
    async with app_env(sqlite_url, **rotated()) as after:
        got = await after.client.get("/v1/contacts/S-2")
        assert got.status_code == 200 and got.json()["channels"] == hook(HOOK_OLD)["channels"]
        # a supporter put on the roster after the rotation: ref under k2, alias under k1 (from matching)
        primary = Candidate(supporter_ref=AFTER.pseudonym("S-2"), score=1.0, aliases=(BEFORE.pseudonym("S-2"),))
        event = matched(backups=()).model_copy(update={"primary": primary})
        await after.handle(consumed.matched, event, after.c.settings, after.clock.now())
        await after.tick()
        assert [address for _, address in after.webhook.sent] == [HOOK_OLD]
        assert after.console.sent == [], "never the default channel for someone with a stored contact"


async def test_contact_changed_after_the_old_key_is_retired_reaches_a_supporter_rostered_under_it(
    sqlite_url: str,
) -> None:
    async with app_env(sqlite_url) as before:
        assert (await before.client.put("/v1/contacts/S-3", json=hook(HOOK_OLD))).status_code == 200
    async with app_env(sqlite_url, **retired()) as after:
        after.clock.advance(minutes=5)
        assert (await after.client.put("/v1/contacts/S-3", json=hook(HOOK_NEW))).status_code == 200  # under k2 only
        # matching pages the roster ref (k1) and names the supporter's current pseudonym as an alias
        primary = Candidate(supporter_ref=BEFORE.pseudonym("S-3"), score=1.0, aliases=(AFTER.pseudonym("S-3"),))
        event = matched(backups=()).model_copy(update={"primary": primary})
        await after.handle(consumed.matched, event, after.c.settings, after.clock.now())
        await after.tick()
        assert [address for _, address in after.webhook.sent] == [HOOK_NEW], "the newest channels, not the stale"


async def test_rekey_finds_contacts_once_the_old_key_is_retired(sqlite_url: str) -> None:
    async with app_env(sqlite_url) as before:
        assert (await before.client.put("/v1/contacts/S-4", json=hook(HOOK_OLD))).status_code == 200  # k1 only
    settings = NotificationSettings(**rotated(database_url=sqlite_url, public_base_url="http://psp.test"))
    assert await rekey(settings, ["S-4", "S-5"], rekey_notification) == {"contacts": 1, "directory": 0, "supported": 0}
    assert await rekey(settings, ["S-4"], rekey_notification) == {"contacts": 0, "directory": 0, "supported": 0}
    async with app_env(sqlite_url, **retired()) as after:
        got = await after.client.get("/v1/contacts/S-4")
        assert got.status_code == 200 and got.json()["staff_ref"] == AFTER.pseudonym("S-4")
        # a supporter rostered after the retirement is paged under k2 with no alias: the contact is found
        event = matched(primary=AFTER.pseudonym("S-4"), backups=())
        await after.handle(consumed.matched, event, after.c.settings, after.clock.now())
        await after.tick()
        assert [address for _, address in after.webhook.sent] == [HOOK_OLD]


async def test_a_supporter_still_sees_their_pages_after_rotation(sqlite_url: str) -> None:
    async with app_env(sqlite_url) as before:
        event = matched(primary=BEFORE.pseudonym("S-6"), backups=())  # paged under the k1 roster ref
        await before.handle(consumed.matched, event, before.c.settings, before.clock.now())
        await before.tick()
    async with app_env(sqlite_url, **rotated()) as after:
        me = auth_headers(after.c.settings, ["supporter"], staff_id="S-6")
        mine = (await after.client.get("/v1/me/assignments", headers=me)).json()
        assert [p["case_id"] for p in mine["pages"]] == [str(event.case_id)]
