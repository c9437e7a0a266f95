"""The triage page over real HTTP against a real listener (and notification for the directory look-up).

Reports reach the listener as a sending system would send them (HL7's published R4 AdverseEvent example byte for
byte; native reports without staff); the page lists them, dispatches through the listener's API (checked in its
outbox: one IncidentObserved, pseudonymized) and dismisses with a reason from the closed list.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from psp_common import topics
from psp_common.db import make_engine
from psp_common.events.intake import SourceKind
from psp_common.events.outreach import IncidentFacts
from psp_common.events.status import OutreachStatus, OutreachStatusChanged, UnknownColleagues
from psp_common.events.vocab import EventClass, HarmLevel, Involvement, StaffRef
from psp_console.domain import triage as domain
from psp_listener.adapters.orm import outbox
from psp_listener.domain.triage import DismissReason, TriageReason, TriageStatus
from psp_listener.unknown_staff import hold_unknown_staff_many
from tests.console.conftest import sign_in
from tests.console.stack import Stack, stack  # noqa: F401  (fixture)
from tests.console.test_roster_pages import csrf, text_of
from tests.listener.conftest import FIXTURES
from tests.listener.test_bad_input import NATIVE
from tests.support import eventually

R4_EXAMPLE = (FIXTURES / "hl7" / "r4-AdverseEvent-example.json").read_bytes()  # HL7's, unmodified
NEVER_SHOWN = ("Patient/example", "itchy rash", "Levetiracetam", "NARRATIVE-SECRET")


async def send(stack: Stack, path: str, **body: Any) -> dict[str, Any]:  # noqa: F811
    """A report to the listener as an integration system (intake token); its answer."""
    token = await stack.token("intake")
    base = stack.site.app.state.console.settings.listener_url
    if path == "fhir":
        kwargs: dict[str, Any] = {"content": R4_EXAMPLE, "headers": {"content-type": "application/fhir+json"}}
        path = "/fhir/AdverseEvent"
    else:
        kwargs = {"json": {k: v for k, v in NATIVE.items() if k != "involved_staff"} | body}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
        r = await api.post(path, **kwargs)
    assert r.status_code == 202, r.text
    answer: dict[str, Any] = r.json()
    assert answer["status"] == "triaged", answer
    return answer


async def published(stack: Stack) -> list[dict[str, Any]]:  # noqa: F811
    """IncidentObserved payloads in the listener's outbox (its own database, read directly)."""
    engine = make_engine(stack.apps["listener"].state.runtime.settings.database_url)
    try:
        async with engine.connect() as conn:
            query = select(outbox.c.payload).where(outbox.c.topic == topics.INCIDENT_OBSERVED).order_by(outbox.c.id)
            rows = (await conn.execute(query)).all()
    finally:
        await engine.dispose()
    return [json.loads(r[0]) for r in rows]


def count(page: httpx.Response, label: str) -> int:
    found = re.search(rf'<th scope="row">{re.escape(label)}</th><td>(\d+)</td>', page.text)
    assert found, label
    return int(found.group(1))


def test_the_pages_lists_mirror_the_listeners_enums() -> None:
    assert set(domain.REASONS) == {r.value for r in TriageReason}
    assert set(domain.STATUSES) == {s.value for s in TriageStatus}
    assert set(domain.DISMISS_REASONS) == {r.value for r in DismissReason}


def test_the_dispatch_form_names_each_problem_and_builds_the_api_body() -> None:
    def form(**fields: str) -> dict[str, list[str]]:
        return {k: [v] for k, v in fields.items()}

    empty = domain.read_attach(form())
    assert domain.dispatch_body(empty, needs_facility=False)[1] == [
        "Staff id: enter the staff id of at least one person to offer support to."
    ]
    typed = domain.read_attach(
        form(staff_id_1="E-1", role_2="rn", staff_id_3="E-1", involvement_4="boss", staff_id_4="E-2", unit="ED")
    )
    body, problems = domain.dispatch_body(typed, needs_facility=True)
    assert body is None and [p.split(":")[0] for p in problems] == ["Person 2", "Person 3", "Person 4", "Facility"]
    assert all("E-1" not in p and "boss" not in p for p in problems)  # never a value
    ok = domain.read_attach(form(rows="2", staff_id_1=" E-1 ", role_1="rn", staff_id_2="E-2", involvement_2="witness"))
    assert domain.dispatch_body(ok, needs_facility=False) == (
        {
            "staff": [
                {"staff_id": "E-1", "role": "rn", "involvement": "affected"},
                {"staff_id": "E-2", "role": None, "involvement": "witness"},
            ]
        },
        [],
    )
    # an item that already names staff (routed by a rule) is dispatched as it is, with nobody more attached
    assert domain.dispatch_body(empty, needs_facility=False, identified=2) == ({"staff": []}, [])
    assert domain.rows_wanted("99") == domain.MAX_ATTACH_ROWS and domain.rows_wanted("x") == domain.ATTACH_ROWS


async def test_fhir_event_without_staff_is_listed_dispatched_once_and_leaves_the_queue(stack: Stack) -> None:  # noqa: F811
    held = await send(stack, "fhir")
    item_id = held["triage_id"]
    assert held["triage_reasons"] == ["no_staff", "no_facility"]
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        queue = await c.get("/triage")
        assert queue.status_code == 200, queue.text
        listed = text_of(queue)
        assert f"Item {item_id[:8]}" in listed and "Nobody named; No facility" in listed
        assert "FHIR AdverseEvent" in listed and "no facility · unknown" in listed
        assert count(queue, "Waiting for a decision") == 1 and count(queue, "Nobody named") == 1
        page = await c.get(f"/triage/{item_id}")
        assert page.status_code == 200 and "Attach people and dispatch" in page.text
        for secret in NEVER_SHOWN:
            assert secret not in queue.text and secret not in page.text
        token = csrf(page)
        form = {"csrf": token, "rows": "4", "staff_id_1": "E-777", "role_1": "rn", "involvement_1": "affected"}

        refused = await c.post(f"/triage/{item_id}/dispatch", data={k: v for k, v in form.items() if k != "csrf"})
        assert refused.status_code == 403 and "Reload the page" in refused.text
        no_site = await c.post(f"/triage/{item_id}/dispatch", data=form)
        assert no_site.status_code == 422 and "Facility: this report names none" in no_site.text
        assert 'value="E-777"' in no_site.text  # what was typed is kept
        assert await published(stack) == []

        form["facility"] = "GEN"
        first = await c.post(f"/triage/{item_id}/dispatch", data=form)
        again = await c.post(f"/triage/{item_id}/dispatch", data=form)  # a double submit
        assert first.status_code == 303 and first.headers["location"].endswith("notice=triage_dispatched")
        assert again.status_code == 303 and again.headers["location"].endswith("notice=triage_already")
        events = await published(stack)
        assert len(events) == 1
        assert events[0]["facility"] == "GEN" and events[0]["incident_ref"] == held["incident_ref"]
        assert [s["involvement"] for s in events[0]["staff"]] == ["affected"] and "E-777" not in json.dumps(events)

        done = await c.get(first.headers["location"])
        shown = text_of(done)
        assert "Dispatched: the report is on its way" in shown and "1 person attached" in shown
        assert events[0]["event_id"] in done.text and "Attach people and dispatch" not in done.text
        assert f"Item {item_id[:8]}" not in text_of(await c.get("/triage"))
        after = await c.get("/triage", params={"status": "dispatched"})
        assert f"Item {item_id[:8]}" in text_of(after) and count(after, "Dispatched") == 1
        assert count(after, "People attached on dispatch") == 1 and count(after, "Waiting for a decision") == 0
        assert "Nothing is waiting" in (await c.get("/triage")).text


async def test_dismiss_records_the_reason_and_the_counts_change(stack: Stack) -> None:  # noqa: F811
    ids = [(await send(stack, "/v1/occurrence-reports", report_id=f"T-{i}"))["triage_id"] for i in range(2)]
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        before = await c.get("/triage")
        assert count(before, "Waiting for a decision") == 2 and count(before, "Duplicate of another report") == 0
        page = await c.get(f"/triage/{ids[0]}")
        assert "NARRATIVE-SECRET" not in page.text and "report <code>T-0</code>" in page.text
        token = csrf(page)
        free_text = await c.post(f"/triage/{ids[0]}/dismiss", data={"csrf": token, "reason": "felt like it"})
        assert free_text.status_code == 422 and "Reason: choose why" in free_text.text
        no_token = await c.post(f"/triage/{ids[0]}/dismiss", data={"reason": "duplicate"})
        assert no_token.status_code == 403
        ok = await c.post(f"/triage/{ids[0]}/dismiss", data={"csrf": token, "reason": "duplicate"})
        assert ok.status_code == 303
        shown = text_of(await c.get(ok.headers["location"]))
        assert "Dismissed: the reason is recorded" in shown and "Dismissed because Duplicate of another report" in shown
        late = await c.post(f"/triage/{ids[0]}/dispatch", data={"csrf": token, "staff_id_1": "E-1"})
        assert late.status_code == 409 and "already decided" in late.text and await published(stack) == []
        after = await c.get("/triage")
        assert count(after, "Waiting for a decision") == 1 and count(after, "Dismissed") == 1
        assert count(after, "Duplicate of another report") == 1 and count(after, "Nobody named") == 1
        dismissed = text_of(await c.get("/triage", params={"status": "dismissed"}))
        assert f"Item {ids[0][:8]}" in dismissed and f"Item {ids[1][:8]}" not in dismissed


async def test_directory_look_up_shows_the_name_on_that_item_only(stack: Stack) -> None:  # noqa: F811
    item_id = (await send(stack, "/v1/occurrence-reports", report_id="T-9"))["triage_id"]
    token = await stack.token("coordinator")
    base = stack.site.app.state.console.settings.notification_url
    csv = "staff_id,display_name,role,unit,phone\nE-4242,Robin Quill,rn,ICU,+14165550100\n"
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        r = await api.post("/v1/directory/import.csv", content=csv.encode(), headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        page = await c.get(f"/triage/{item_id}")
        found = await c.post(f"/triage/{item_id}/lookup", data={"csrf": csrf(page), "staff_id": "E-4242"})
        assert found.status_code == 200 and "Robin Quill" in found.text
        assert "+14165550100" not in found.text  # who they are, not how to reach them
        assert re.search(r'id="staff_id_1" name="staff_id_1" value="E-4242"', found.text)
        unknown = await c.post(f"/triage/{item_id}/lookup", data={"csrf": csrf(page), "staff_id": "E-0000"})
        assert unknown.status_code == 404 and "Nobody with this staff id is in the directory" in unknown.text
        assert "Robin Quill" not in (await c.get(f"/triage/{item_id}")).text
        assert "Robin Quill" not in (await c.get("/triage")).text
        missing = await c.get("/triage/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404 and "Go back to the triage queue" in missing.text
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:

        async def reveal_audited() -> bool:  # written just after the answer
            r = await api.get("/v1/audit", params={"resource_contains": "/v1/directory/", "action": "GET"})
            return any(row["status"] == 200 and "coordinator" in row["scopes"] for row in r.json()["items"])

        await eventually(reveal_audited, timeout=10)


async def test_supporters_are_refused_and_an_unreachable_listener_is_explained(stack: Stack) -> None:  # noqa: F811
    item_id = (await send(stack, "/v1/occurrence-reports", report_id="T-10"))["triage_id"]
    async with stack.site.client() as c:
        await sign_in(c, "supporter")
        assert (await c.get("/triage")).status_code == 403
        assert (await c.get(f"/triage/{item_id}")).status_code == 403
        home = await c.get("/")
        assert 'href="/triage"' not in home.text
        posted = await c.post(f"/triage/{item_id}/dismiss", data={"reason": "duplicate"})
        assert posted.status_code == 403
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        assert 'href="/triage"' in (await c.get("/")).text
        stack.site.app.state.console.backends.listener.base_url = "http://127.0.0.1:9"
        down = await c.get("/triage")
        assert down.status_code == 200 and "The listener service cannot be reached" in down.text
        assert "check the service status page" in down.text


async def test_an_unknown_colleague_item_explains_itself_and_needs_someone_attached(stack: Stack) -> None:  # noqa: F811
    occurred = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    facts = IncidentFacts(source_kind=SourceKind.NATIVE, event_class=EventClass.INCIDENT, harm_level=HarmLevel.DEATH)
    who = (StaffRef(pseudonym="ps_unknown_person", key_id="k1", involvement=Involvement.AFFECTED),)
    status = OutreachStatusChanged(
        occurred_at=occurred,
        correlation_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        status=OutreachStatus.COLLEAGUE_UNKNOWN,
        facility="GEN",
        unit="ICU",
        unknown=UnknownColleagues(
            incident_ref="ref_unknown_1", report_version=1, incident_occurred_at=occurred, people=who, incident=facts
        ),
    )
    rt = stack.apps["listener"].state.runtime
    async with rt.uow() as uow:
        (item,) = await hold_unknown_staff_many([status], uow)
        await uow.commit()
    async with stack.site.client() as c:
        await sign_in(c, "coordinator")
        queue = text_of(await c.get("/triage"))
        assert f"Item {item.id[:8]}" in queue and "A colleague to reach is not in the contacts directory" in queue
        page = await c.get(f"/triage/{item.id}")
        shown = text_of(page)
        assert "their supporter sees your number instead of theirs" in shown and "(1: affected (harmed" in shown
        assert "GEN · ICU" in shown and "harm: death" in shown and "ps_unknown_person" not in page.text
        form = {"csrf": csrf(page), "rows": "4"}
        nobody = await c.post(f"/triage/{item.id}/dispatch", data=form)
        assert nobody.status_code == 422 and await published(stack) == []
