"""The Refer page over real HTTP, against a real listener (SQLite, HTTP only) trusting the dev provider: every
signed-in role may refer; a staff member's own token is the person or the referrer; no free text reaches the
listener; a double submit is one referral; errors name the field."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from psp_common.events.referral import ReferralObserved
from psp_common.pseudonym import Pseudonymizer
from psp_console.bootstrap import build as build_console
from psp_listener.adapters.orm import outbox
from psp_listener.bootstrap import MIGRATIONS as L_MIG
from psp_listener.bootstrap import build as build_listener
from psp_listener.settings import ListenerSettings
from tests.clock import PinnedClock
from tests.console.conftest import HIDDEN, Site, backend, console_settings, free_port, served, sign_in
from tests.console.test_roster_pages import text_of

SECRET = "NARRATIVE-SECRET he has not slept since the code"


@pytest.fixture
async def refer_site(tmp_path: Path, idp_url: str, pinned_clock: PinnedClock) -> AsyncIterator[tuple[Site, str]]:
    """The console with a real listener behind it (its database URL returned to read the outbox)."""
    db = f"sqlite+aiosqlite:///{tmp_path}/l.db"
    settings = ListenerSettings(database_url=db, env="dev", auth_oidc_issuer=idp_url, kafka_create_topics=False)
    listener = await backend(build_listener, settings, L_MIG, pinned_clock)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(served(listener, free_port(), "off"))
        port = free_port()
        app = build_console(console_settings(f"sqlite+aiosqlite:///{tmp_path}/c.db", port, idp_url, listener_url=url))
        base = await stack.enter_async_context(served(app, port))
        yield Site(base, idp_url, app), db


async def published(db: str) -> list[tuple[ReferralObserved, str]]:
    engine = create_async_engine(db)
    try:
        async with engine.connect() as c:
            rows = (await c.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars().all()
    finally:
        await engine.dispose()
    return [(ReferralObserved.model_validate_json(p), str(p)) for p in rows]


async def open_form(client: httpx.AsyncClient, account: str) -> httpx.Response:
    r = await sign_in(client, account, "/refer")
    assert r.status_code == 303, r.text
    page = await client.get("/refer")
    assert page.status_code == 200, page.text
    return page


def fields(page: httpx.Response, **values: str) -> dict[str, str]:
    hidden = dict(HIDDEN.findall(page.text))
    return {"csrf": hidden["csrf"], "referral_id": hidden["referral_id"], **values}


async def test_a_staff_member_refers_themself_and_a_colleague(refer_site: tuple[Site, str]) -> None:
    site, db = refer_site
    pseudo = Pseudonymizer.from_settings(ListenerSettings())
    async with site.client() as c:
        form = await open_form(c, "staff")
        assert "Refer" in text_of(form) and 'name="note"' not in form.text and "<textarea" not in form.text
        own = fields(form, kind="self", urgency="now", facility="GEN", note=SECRET)  # a stray field goes nowhere
        r = await c.post("/refer", data=own)
        assert r.status_code == 200, r.text
        assert "A peer supporter will contact you (now)" in text_of(r)
        again = await c.post("/refer", data=own)  # a double submit of the same form
        assert "already sent" in text_of(again)
        other = fields(await c.get("/refer"), kind="colleague", urgency="this_week", facility="GEN", unit="ICU")
        r = await c.post("/refer", data={**other, "person_staff_id": "E-200"})
        assert r.status_code == 200 and "Thank you" in text_of(r), r.text
    [(mine, raw_mine), (theirs, raw_theirs)] = await published(db)
    assert mine.kind == "self" and mine.urgency == "immediate" and mine.person.pseudonym == pseudo.pseudonym("E-201")
    assert theirs.kind == "colleague" and theirs.urgency == "within_days" and theirs.unit == "ICU"
    assert theirs.person.pseudonym == pseudo.pseudonym("E-200")
    assert theirs.referrer is not None and theirs.referrer.pseudonym == pseudo.pseudonym("E-201")
    assert not any(s in raw for raw in (raw_mine, raw_theirs) for s in (SECRET, "E-200", "E-201"))


async def test_every_role_may_refer_and_mistakes_are_named(refer_site: tuple[Site, str]) -> None:
    site, db = refer_site
    for account in ("coordinator", "supporter", "analyst"):
        async with site.client() as c:
            form = await open_form(c, account)
            assert 'href="/refer"' in form.text  # in everyone's nav
    async with site.client() as c:
        form = await open_form(c, "supporter")
        missing = await c.post("/refer", data=fields(form, kind="colleague", urgency="today", facility="GEN"))
        assert missing.status_code == 422 and "Their staff id: enter the staff id" in text_of(missing)
        eap = await c.post(
            "/refer", data=fields(form, kind="eap", urgency="today", facility="GEN", person_staff_id="E-200")
        )
        assert eap.status_code == 422 and "They agreed" in text_of(eap)
        yourself = fields(form, kind="colleague", urgency="today", facility="GEN", person_staff_id="S-100")
        refused = await c.post("/refer", data=yourself)  # the supporter S-100 names themself: the listener says no
        assert refused.status_code == 422 and "Nothing was sent" in text_of(refused), refused.text
        no_csrf = await c.post("/refer", data={**fields(form, kind="self", urgency="now", facility="GEN"), "csrf": "x"})
        assert no_csrf.status_code == 403
    assert await published(db) == []
