"""Sign-in through the dev identity provider over real HTTP: the code flow with PKCE, its checks, sessions,
roles, CSRF and the audit log."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from psp_console.adapters.orm import audit_log, pending_sign_ins
from psp_console.devidp.tokens import s256
from tests.console.conftest import Site, choose, sign_in, to_provider


async def audit_rows(site: Site) -> list[tuple[str, str, int]]:
    async with site.app.state.console.engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).order_by(audit_log.c.id))).mappings().all()
    return [(r["actor"], r["action"], r["status"]) for r in rows]


async def test_signed_out_requests_go_to_sign_in_and_come_back(site: Site) -> None:
    async with site.client() as c:
        r = await c.get("/status")
        assert r.status_code == 303 and r.headers["location"] == "/auth/login?next=%2Fstatus"
        r = await sign_in(c, "coordinator", "/status")
        assert r.status_code == 303 and r.headers["location"] == "/status"
        page = await c.get("/status")
    assert page.status_code == 200 and "Service status" in page.text and "Casey Demo" in page.text


async def test_coordinator_home_names_them_and_links_their_pages(site: Site) -> None:
    async with site.client() as c:
        await sign_in(c, "coordinator")
        home = await c.get("/")
    assert home.status_code == 200
    assert "Signed in as <strong>Casey Demo</strong>, PSP coordinator" in home.text
    assert '<a href="/status">Service status</a>' in home.text


async def test_a_supporter_cannot_open_a_coordinator_page(site: Site) -> None:
    async with site.client() as c:
        await sign_in(c, "supporter")
        home = await c.get("/")
        refused = await c.get("/status")
    assert home.status_code == 200 and "Peer supporter" in home.text and "/status" not in home.text
    assert refused.status_code == 403
    assert "is for PSP coordinator accounts" in refused.text and "ask the PSP program lead" in refused.text
    assert ("demo-supporter", "VIEW", 403) in await audit_rows(site)


async def test_the_console_sends_an_s256_challenge_of_the_verifier_it_keeps(site: Site) -> None:
    async with site.client() as c:
        authorize = await to_provider(c)
    q = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert q["code_challenge_method"] == "S256" and q["nonce"] and q["state"]
    async with site.app.state.console.engine.connect() as conn:
        verifier = (await conn.execute(select(pending_sign_ins.c.code_verifier))).scalar_one()
    assert s256(verifier) == q["code_challenge"]
    assert "code_verifier" not in authorize


async def test_a_tampered_state_is_refused_and_opens_no_session(site: Site) -> None:
    async with site.client() as c:
        callback = await choose(await to_provider(c), "coordinator")
        path, query = callback.split("?", 1)
        q = {k: v[0] for k, v in parse_qs(query).items()}
        r = await c.get(path, params=q | {"state": q["state"][:-2] + "xx"})
        assert r.status_code == 400 and "Sign-in did not complete" in r.text
        assert "psp_session" not in r.headers.get("set-cookie", "")
        assert (await c.get("/")).status_code == 303
    assert ("anonymous", "SIGNIN", 400) in await audit_rows(site)


async def test_a_callback_is_used_once(site: Site) -> None:
    async with site.client() as c:
        callback = await choose(await to_provider(c), "coordinator")
        assert (await c.get(callback)).status_code == 303
        again = await c.get(callback)
    assert again.status_code == 400 and "was used already" in again.text


async def test_a_callback_in_another_browser_is_refused(site: Site) -> None:
    async with site.client() as started:
        callback = await choose(await to_provider(started), "coordinator")
    async with site.client() as other:
        r = await other.get(callback)
        assert r.status_code == 400 and "started in another browser" in r.text
        assert (await other.get("/")).status_code == 303


async def test_the_provider_takes_a_code_once_and_only_with_its_verifier(site: Site) -> None:
    async with site.client() as c:
        authorize = await to_provider(c)
    q = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    callback = await choose(authorize, "coordinator")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    async with site.app.state.console.engine.connect() as conn:
        verifier = (await conn.execute(select(pending_sign_ins.c.code_verifier))).scalar_one()
    form = {"grant_type": "authorization_code", "code": code, "client_id": "psp-console"}
    form["redirect_uri"] = q["redirect_uri"]
    async with httpx.AsyncClient() as idp:
        wrong = await idp.post(site.idp + "/token", data=form | {"code_verifier": verifier + "x"})
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        # the wrong verifier spent the code (popped on first use)
        again = await idp.post(site.idp + "/token", data=form | {"code_verifier": verifier})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_the_provider_refuses_an_authorization_request_without_pkce(site: Site) -> None:
    async with site.client() as c:
        authorize = await to_provider(c)
    base, query = authorize.split("?", 1)
    q = {k: v[0] for k, v in parse_qs(query).items() if not k.startswith("code_challenge")}
    async with httpx.AsyncClient() as idp:
        r = await idp.get(base, params=q)
    assert r.status_code == 303 and "error=invalid_request" in r.headers["location"]


async def test_a_form_without_the_sessions_csrf_token_is_refused(site: Site) -> None:
    async with site.client() as c:
        await sign_in(c, "coordinator")
        home = await c.get("/")
        token = home.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert (await c.post("/auth/logout")).status_code == 403
        assert (await c.post("/auth/logout", data={"csrf": "not-" + token})).status_code == 403
        assert (await c.get("/")).status_code == 200  # still signed in
        out = await c.post("/auth/logout", headers={"X-CSRF-Token": token})  # the htmx variant
        assert out.status_code == 303 and out.headers["location"].startswith(site.idp + "/end_session?")
        assert (await c.get("/")).status_code == 303
    assert ("demo-coordinator", "SIGNOUT", 303) in await audit_rows(site)
    assert ("demo-coordinator", "SIGNIN", 303) in await audit_rows(site)


async def test_session_cookie_flags_in_dev(site: Site) -> None:
    async with site.client() as c:
        r = await sign_in(c, "coordinator")
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("psp_session="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= flags and "secure" not in flags
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40  # a random id, nothing else: the token stays server-side
    assert "." not in value
