"""The console's /metrics: sign-ins by outcome, calls to the services by outcome class, live sessions."""

from __future__ import annotations

from tests.common.test_metrics import identifying, parse, value
from tests.console.conftest import Site, choose, sign_in, to_provider


async def test_sign_ins_backend_calls_and_sessions_are_counted(site: Site) -> None:
    async with site.client() as c:
        before = parse((await c.get("/metrics")).text)
        assert value(before, "psp_console_sessions_active") == 0
        assert (await sign_in(c, "coordinator")).status_code == 303
        board = await c.get("/board")  # the notification service is not running here: unreachable
        assert board.status_code in (200, 502, 503)
    async with site.client() as other:
        callback = await choose(await to_provider(other), "supporter")
        async with site.client() as thief:  # the callback in another browser is refused
            assert (await thief.get(callback)).status_code == 400
        async with site.client() as anyone:
            families = parse((await anyone.get("/metrics")).text)
    assert value(families, "psp_console_sign_ins_total", outcome="signed_in") == 1
    assert value(families, "psp_console_sign_ins_total", outcome="refused") == 1
    assert value(families, "psp_console_sessions_active") == 1
    calls = "psp_console_backend_call_seconds_count"
    assert value(families, calls, service="notification", outcome="unreachable") >= 1
    assert value(families, calls, outcome="ok") == 0
    assert not identifying(families)
