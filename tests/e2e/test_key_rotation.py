"""End to end across a key rotation: state entered under k1, the four services restarted with k2 current and k1 old.

Real broker, PostgreSQL and four service processes. Before the rotation: a clinician opts out, a supporter is
registered as the evaluator of another clinician, that clinician is also on the roster, and the only eligible
supporter leaves a console contact (the default channel is set to an unconfigured SMS, so a page without a
stored contact fails). After the rotation one report names both clinicians.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from psp_common.settings import ServiceSettings
from psp_common.stack import SERVICES, Stack
from tests.e2e.conftest import running_stack
from tests.rotation import BEFORE, rotated_env
from tests.support import auth_headers, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.kafka]

OCCURRED = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@pytest.fixture
async def k1_stack(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_admin_dsn: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    """The four services under the packaged key k1; pages without a contact go to an unconfigured channel."""
    unconfigured = {"PSP_DEFAULT_CHANNEL": "sms"}
    async with running_stack(kafka_bootstrap, kafka_idempotence, pg_admin_dsn, tmp_path, unconfigured) as s:
        yield s


def supporter(staff_id: str, **over: Any) -> dict[str, Any]:
    return {
        "staff_id": staff_id,
        "display_name": f"Peer {staff_id}",
        "profession": "rn",
        "seniority_level": 5,
        "site": "GEN",
        **over,
    }


async def restart_rotated(stack: Stack) -> None:
    for name in SERVICES:
        stack.signal(name, signal.SIGTERM)
    for name in SERVICES:
        stack.wait_exit(name)
    stack.extra_env.update(rotated_env())
    stack.start()
    await stack.wait_ready(timeout=120)


async def test_every_safety_rule_survives_a_key_rotation(k1_stack: Stack) -> None:
    s = k1_stack
    coordinator = auth_headers(ServiceSettings(), ["coordinator"], subject="e2e-coordinator")
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        r = await client.post(f"{s.url('rules')}/v1/opt-outs", json={"staff_id": "E-KR-OPT"})
        assert r.status_code == 201, r.text
        for body in (
            supporter("S-KR-EVAL", years_experience=30, evaluates=["E-KR-2"]),  # evaluates the clinician
            supporter("E-KR-2", years_experience=25),  # the clinician is a peer supporter too
            supporter("S-KR-OK", years_experience=1, site="NORTH"),  # ranks last when the others are eligible
        ):
            r = await client.post(f"{s.url('matching')}/v1/supporters", json=body)
            assert r.status_code == 201, r.text
        contact = {"channels": [{"kind": "console", "address": "console"}]}
        r = await client.put(f"{s.url('notification')}/v1/contacts/S-KR-OK", json=contact)
        assert r.status_code == 200, r.text

    await restart_rotated(s)

    coordinator = auth_headers(ServiceSettings(), ["coordinator"], subject="e2e-coordinator")
    intake = auth_headers(ServiceSettings(), ["intake"], subject="e2e-intake")
    report = {
        "source_system": "kr-e2e",
        "report_id": "KR-1",
        "version": 1,
        "facility": "GEN",
        "unit": "ICU",
        "occurred_at": OCCURRED.isoformat(),
        "event_class": "incident",
        "harm_level": "death",
        "involved_staff": [
            {"staff_id": "E-KR-OPT", "role": "rn", "involvement": "primary"},
            {"staff_id": "E-KR-2", "role": "rn", "involvement": "primary"},
        ],
    }
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(f"{s.url('listener')}/v1/occurrence-reports", json=report, headers=intake)
        assert r.status_code == 202, r.text

        async def decided() -> list[dict[str, Any]]:  # this report's (the shared broker holds other tests')
            params = {"incident_ref": BEFORE.reference("report", "kr-e2e:KR-1")}
            body = (await client.get(f"{s.url('rules')}/v1/decisions", params=params, headers=coordinator)).json()
            items: list[dict[str, Any]] = body["items"]
            return items

        async def settled() -> list[dict[str, Any]]:
            resp = await client.get(f"{s.url('notification')}/v1/deliveries", headers=coordinator)
            body = resp.json()
            items: list[dict[str, Any]] = body if isinstance(body, list) else body.get("items", [])
            return [d for d in items if d.get("state") in ("sent", "failed") and d["case_id"] in cases]

        decisions = await eventually(decided, timeout=60)
        outcomes = [d["outcome"] for d in decisions]
        assert outcomes == ["suppressed: opted out; outreach requested"], "the opted-out clinician stays opted out"
        cases = {a["case_id"] for d in decisions for a in d["detail"] if a["case_id"]}
        deliveries = await eventually(settled, timeout=90)
    assert [(d["supporter_ref"], d["state"], d["channel"]) for d in deliveries] == [
        (BEFORE.pseudonym("S-KR-OK"), "sent", "console")
    ], "neither the evaluator nor the involved supporter is paged; the contact stored under k1 is found"
