"""The supporter page: acknowledge in a browser, then see who the colleague is and how to reach them, the
deadlines and the facility's guide; only the supporter who holds the case, each reveal audited, nothing in logs."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import select

from psp_common import logs
from psp_common.rekey import rekey
from psp_notification import consumed
from psp_notification.adapters.directory import DirectoryRepository
from psp_notification.adapters.orm import audit_log
from psp_notification.domain.directory import DirectoryEntry
from psp_notification.domain.tokens import new_token
from psp_notification.rekey import apply as rekey_notification
from psp_notification.settings import NotificationSettings
from psp_notification.supporter_page import RESOURCE
from tests.notification.support import T0, Env, app_env, matched, path_of
from tests.rotation import AFTER, BEFORE, rotated
from tests.support import auth_headers

HTML = {"accept": "text/html,application/xhtml+xml"}
FORM = {**HTML, "content-type": "application/x-www-form-urlencoded"}
ANA = DirectoryEntry.create("Ana Ruiz", "Registered nurse", "ICU 4 West", "+1 416 555 0142", "4471", "ana@gen.example")
BEN = DirectoryEntry.create("Ben Osei", "Respiratory therapist", "ICU 4 West", "+1 416 555 0199")
IDENTITY = ("Ana Ruiz", "Registered nurse", "+14165550142", "4471", "ana@gen.example")


async def listed(env: Env, ref: str, entry: DirectoryEntry) -> None:
    async with env.c.runtime.uow() as uow:
        await DirectoryRepository(uow.session).save([ref], env.c.pseudo.key_id, entry, "csv", env.clock.now())
        await uow.commit()


async def paged(env: Env, primary: str = "ps_primary", **over: Any) -> dict[str, str]:
    """Match a case for ``ps_colleague`` (listed as Ana Ruiz), send the primary's page; its links (paths)."""
    event = matched(primary=primary, **over)
    await env.handle(consumed.matched, event, env.c.settings, env.clock.now())
    await env.tick()
    return {k: path_of(v) for k, v in env.console.to(primary)[-1].links.items()}


async def acknowledged(env: Env, links: dict[str, str]) -> str:
    """Acknowledge in a browser (form POST); the case page the 303 points to."""
    r = await env.client.post(links["ack"], content=b"choice=ack", headers=FORM)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert re.fullmatch(r"/v1/pages/[A-Za-z0-9_-]{43}/case", location)
    return location


async def reveals(env: Env) -> list[tuple[str, str]]:
    async with env.c.runtime.session() as s:
        rows = (await s.execute(select(audit_log).where(audit_log.c.action == "REVEAL"))).all()
    return [(r.actor, r.resource) for r in rows]


@pytest.fixture
async def page_env(sqlite_url: str) -> Any:
    async with app_env(sqlite_url, coordinator_phone="+1 416 555 0100") as env:
        await listed(env, "ps_colleague", ANA)
        yield env


async def test_ack_in_a_browser_leads_to_the_case_page_with_name_role_unit_and_phone(page_env: Env) -> None:
    env = page_env
    links = await paged(env)
    form = await env.client.get(links["ack"], headers=HTML)
    assert form.status_code == 200 and '<html lang="en">' in form.text and "Within hours" in form.text
    assert "I'll take it" in form.text and 'value="decline"' in form.text
    assert not any(s in form.text for s in IDENTITY), "nothing about the colleague before acknowledging"
    case = await acknowledged(env, links)
    for _ in range(2):  # the case page stays reachable: not single-use
        r = await env.client.get(case, headers=HTML)
        assert r.status_code == 200
        assert all(s in r.text for s in ("Ana Ruiz", "Registered nurse", "ICU 4 West", 'href="tel:+14165550142"'))
        assert "within 30 min" in r.text and "within 12 h" in r.text and "Within hours" in r.text
        assert "Mon 23 Nov 09:30 EST" in r.text  # call back by: acknowledged at T0 (14:00 UTC) + 30 min, Toronto
        assert "peer supporter" in r.text and 'href="tel:988"' in r.text  # the default approach script and resources
        assert "ps_colleague" not in r.text
        assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_an_api_client_gets_the_case_page_address_and_the_link_acks_once(page_env: Env) -> None:
    env = page_env
    links = await paged(env)
    body = (await env.client.post(links["ack"])).json()
    assert body["result"] == "acknowledged" and body["case_page"].endswith("/case")
    assert "Ana Ruiz" in (await env.client.get(body["case_page"], headers=HTML)).text
    assert (await env.client.post(links["ack"], headers=FORM, content=b"choice=ack")).status_code == 410


async def test_a_supporter_who_no_longer_holds_the_case_sees_nothing_of_the_colleague(page_env: Env) -> None:
    env = page_env
    first = await paged(env)
    first_case = await acknowledged(env, first)
    assert "Ana Ruiz" in (await env.client.get(first_case, headers=HTML)).text
    assert (await env.client.post(first["decline"])).json()["result"] == "handed back"
    await env.tick()
    backup = {k: path_of(v) for k, v in env.console.to("ps_backup1")[-1].links.items()}
    backup_case = await acknowledged(env, backup)
    r = await env.client.get(first_case, headers=HTML)
    assert r.status_code == 200 and "Another supporter has this case" in r.text
    assert not any(s in r.text for s in IDENTITY)
    assert "Ana Ruiz" in (await env.client.get(backup_case, headers=HTML)).text
    assert [actor for actor, _ in await reveals(env)] == ["page-link:ps_primary", "page-link:ps_backup1"]


async def test_a_forged_or_other_action_token_on_the_case_page_is_refused(page_env: Env) -> None:
    env = page_env
    links = await paged(env)
    case = await acknowledged(env, links)
    view = case.split("/")[3]
    for token in (new_token(), links["decline"].split("/")[3], view[:-1] + ("A" if view[-1] != "A" else "B")):
        r = await env.client.get(f"/v1/pages/{token}/case", headers=HTML)
        assert r.status_code == 403 and not any(s in r.text for s in IDENTITY)
        assert r.headers["cache-control"] == "no-store"
        r = await env.client.get(f"/v1/pages/{token}/case")
        assert r.status_code == 403 and r.json()["errors"][0]["field"] == "token"
    assert (await env.client.post(f"/v1/pages/{view}/ack")).status_code == 403  # a view token acts on nothing
    env.clock.advance(hours=env.c.settings.contact_deadline_hours)
    assert (await env.client.get(case, headers=HTML)).status_code == 410  # expired at the contact deadline
    assert len(await reveals(env)) == 0


async def test_each_reveal_is_audited_by_pseudonym_and_viewer_never_name_or_token(page_env: Env) -> None:
    env = page_env
    case = await acknowledged(env, await paged(env))
    await env.client.get(case, headers=HTML)
    await env.client.get(case, headers=HTML)
    assert await reveals(env) == [("page-link:ps_primary", "/v1/pages/{token}/case staff_ref=ps_colleague")] * 2
    async with env.c.runtime.session() as s:
        audit = str((await s.execute(select(audit_log))).all())
    # the full number, not "555" (random ids and hex tokens in the audit rows may contain those digits)
    assert case.split("/")[3] not in audit and "Ana" not in audit and "555 0142" not in audit and "5550142" not in audit
    assert "/v1/pages/{token}/case token=[redacted]" in audit


async def test_the_supporter_flow_logs_no_identity_and_no_token(
    page_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env = page_env
    caplog.set_level(logging.DEBUG)
    for name in (*logs.QUIET_LOGGERS, "httpx", "httpcore"):
        caplog.set_level(logging.WARNING, logger=name)
    links = await paged(env)
    await env.client.get(links["ack"], headers=HTML)
    case = await acknowledged(env, links)
    assert (await env.client.get(case, headers=HTML)).status_code == 200
    await env.client.get(f"/v1/pages/{new_token()}/case", headers=HTML)
    secrets = (*IDENTITY, "416", case.split("/")[3], links["ack"].split("/")[3])
    assert not [m for m in caplog.messages if any(s in m for s in secrets)]


async def test_a_colleague_missing_from_the_directory_gets_the_coordinator_number(page_env: Env) -> None:
    env = page_env
    case = await acknowledged(env, await paged(env, supported=("ps_unlisted",)))
    r = await env.client.get(case, headers=HTML)
    assert r.status_code == 200 and "not in the staff directory" in r.text
    assert "call the PSP coordinator" in r.text and "+1 416 555 0100" in r.text
    assert await reveals(env) == []


async def test_a_group_case_shows_every_member_to_the_facilitator(page_env: Env) -> None:
    env = page_env
    await listed(env, "ps_colleague2", BEN)
    links = await paged(env, supported=("ps_colleague", "ps_colleague2", "ps_unlisted"), mode="group")
    r = await env.client.get(await acknowledged(env, links), headers=HTML)
    assert "The team to support" in r.text and "Ana Ruiz" in r.text and "Ben Osei" in r.text
    assert "1 more person is not in the staff directory" in r.text
    assert sorted(res.rsplit("=", 1)[1] for _, res in await reveals(env)) == ["ps_colleague", "ps_colleague2"]


async def test_the_guide_is_configurable_per_facility(sqlite_url: str) -> None:
    guide = {
        "approach_script": ["Page Dr. Lee's PSP line first."],
        "resources": [{"name": "GEN Chaplaincy", "phone": "+1 416 555 0111"}],
    }
    async with app_env(sqlite_url, facility_guides={"GEN": guide}, callback_minutes=15) as env:
        await listed(env, "ps_colleague", ANA)
        r = await env.client.get(await acknowledged(env, await paged(env)), headers=HTML)
        assert "Page Dr. Lee&#39;s PSP line first." in r.text and "GEN Chaplaincy" in r.text
        # the default crisis line's link, not the bare digits (a random CSRF token's hex may contain "988")
        assert "within 15 min" in r.text and 'href="tel:988"' not in r.text
        other = await paged(env, primary="ps_other", facility="NORTH")
        r = await env.client.get(await acknowledged(env, other), headers=HTML)
        assert 'href="tel:988"' in r.text and "GEN Chaplaincy" not in r.text  # no guide of its own: the default


async def test_i_cant_on_the_ack_page_declines_and_pages_the_next_backup(page_env: Env) -> None:
    env = page_env
    links = await paged(env)
    r = await env.client.post(links["ack"], content=b"choice=decline", headers=FORM)
    assert r.status_code == 200 and "next supporter will be asked" in r.text
    await env.tick()
    assert env.console.to("ps_backup1"), "the next backup is paged"
    assert ("declined", "ps_primary") in await env.statuses()


async def test_with_sso_required_only_the_recipients_supporter_token_reveals(sqlite_url: str) -> None:
    async with app_env(sqlite_url, supporter_page_require_sso=True) as env:
        await listed(env, "ps_colleague", ANA)
        case = await acknowledged(env, await paged(env, primary=env.c.pseudo.pseudonym("S-PRI")))

        def bearer(staff_id: str | None, *scopes: str) -> dict[str, str]:
            return {**HTML, **auth_headers(env.c.settings, list(scopes), subject="x", staff_id=staff_id)}

        for headers in ({**HTML, "authorization": ""}, bearer("S-OTHER", "supporter"), bearer("S-PRI", "analyst")):
            r = await env.client.get(case, headers=headers)
            assert r.status_code == 401 and "Sign in" in r.text and "Ana Ruiz" not in r.text
        r = await env.client.get(case, headers={**HTML, "authorization": "Bearer not-a-jwt"})
        assert r.status_code == 401
        r = await env.client.get(case, headers=bearer("S-PRI", "supporter"))
        assert r.status_code == 200 and "Ana Ruiz" in r.text
        assert [res for _, res in await reveals(env)] == ["/v1/pages/{token}/case staff_ref=ps_colleague"]


async def test_after_a_key_rotation_the_rekey_lets_the_case_page_find_the_colleague_again(sqlite_url: str) -> None:
    async with app_env(sqlite_url) as before:
        await listed(before, BEFORE.pseudonym("S-COL"), ANA)
        case = await acknowledged(before, await paged(before, supported=(BEFORE.pseudonym("S-COL"),)))
    async with app_env(sqlite_url, **rotated()) as after:  # the directory re-imported under the new key
        async with after.c.runtime.uow() as uow:
            await DirectoryRepository(uow.session).save(AFTER.pseudonyms_of("S-COL"), "k2", ANA, "csv", T0)
            await uow.commit()
        assert "not in the staff directory" in (await after.client.get(case, headers=HTML)).text
    settings = NotificationSettings(**rotated(database_url=sqlite_url, public_base_url="http://psp.test"))
    assert await rekey(settings, ["S-COL"], rekey_notification) == {"contacts": 0, "directory": 0, "supported": 1}
    async with app_env(sqlite_url, **rotated()) as after:
        assert "Ana Ruiz" in (await after.client.get(case, headers=HTML)).text
        assert [res for _, res in await reveals(after)] == [RESOURCE + AFTER.pseudonym("S-COL")]
