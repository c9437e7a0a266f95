"""Matching over a real broker and PostgreSQL: match, dedupe a redelivered event, publish unmatched."""

from __future__ import annotations

import uuid

import pytest

from psp_common import topics
from psp_common.events.outreach import OutreachRequested, RuleHit
from psp_common.events.vocab import StaffRef
from psp_common.pseudonym import Pseudonymizer
from psp_matching.bootstrap import build
from psp_matching.settings import MatchingSettings
from tests.clock import TEST_NOW
from tests.support import produce, read_topic, running

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def outreach(pseudo: Pseudonymizer, case_id: uuid.UUID, staff_id: str, tier: int = 2) -> OutreachRequested:
    return OutreachRequested(
        occurred_at=TEST_NOW,
        correlation_id=uuid.uuid4(),
        case_id=case_id,
        incident_ref="ref_it",
        report_version=1,
        facility="GEN",
        unit="ICU",
        people=(StaffRef(pseudonym=pseudo.pseudonym(staff_id), key_id=pseudo.key_id, role="rn"),),
        rules_fired=(RuleHit(rule_id="death", text="unexpected patient death"),),
        urgency="within_hours",
        mode="individual",
        tier=tier,
        ruleset_version="it",
    )


async def test_outreach_requested_to_matched_dedupe_and_unmatched(
    kafka_bootstrap: str, kafka_idempotence: bool, pg_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    settings = MatchingSettings(
        kafka_bootstrap=kafka_bootstrap, database_url=pg_url, kafka_idempotence=kafka_idempotence
    )
    pseudo = Pseudonymizer.from_settings(settings)
    case_a, case_b = uuid.uuid4(), uuid.uuid4()
    async with running(build(settings)) as client:
        for sid, site in ((f"S-{tag}-1", "NORTH"), (f"S-{tag}-2", "GEN")):
            r = await client.post(
                "/v1/supporters",
                json={"staff_id": sid, "display_name": "Peer", "profession": "rn", "seniority_level": 4, "site": site},
            )
            assert r.status_code == 201, r.text
        first = outreach(pseudo, case_a, f"E-{tag}")
        key = str(case_a).encode()
        await produce(kafka_bootstrap, topics.OUTREACH_REQUESTED, first.model_dump_json().encode(), key=key)
        matched = await read_topic(
            kafka_bootstrap, topics.SUPPORTER_MATCHED, match=lambda m: m["value"]["case_id"] == str(case_a)
        )
        assert matched and matched[0]["value"]["primary"]["supporter_ref"] == pseudo.pseudonym(f"S-{tag}-2")
        assert matched[0]["key"] == key
        assert tag not in matched[0]["raw"].decode()

        # Redeliver the same event, then an impossible case (tier 3, nobody credentialed) on the same
        # partition: once its SupporterUnmatched arrives, the duplicate was consumed before it.
        await produce(kafka_bootstrap, topics.OUTREACH_REQUESTED, first.model_dump_json().encode(), key=key)
        impossible = outreach(pseudo, case_b, f"E-{tag}-b", tier=3)
        await produce(kafka_bootstrap, topics.OUTREACH_REQUESTED, impossible.model_dump_json().encode(), key=key)
        unmatched = await read_topic(
            kafka_bootstrap, topics.SUPPORTER_UNMATCHED, match=lambda m: m["value"]["case_id"] == str(case_b)
        )
        assert unmatched, "no SupporterUnmatched for the impossible case"
        reasons = unmatched[0]["value"]["reasons"]
        assert "mental_health_credentials: 2 excluded (no mental-health credentials (tier 3))" in reasons
        again = await read_topic(
            kafka_bootstrap,
            topics.SUPPORTER_MATCHED,
            count=2,
            timeout=3,
            match=lambda m: m["value"]["case_id"] == str(case_a),
        )
        assert len(again) == 1, "the duplicate event produced a second SupporterMatched"
        case = (await client.get(f"/v1/cases/{case_a}")).json()
        assert case["last_decision"] == "matched (new case)"  # the handler never saw the duplicate
        # The session broker also carries other tests' cases: count only this test's.
        mine = [a for a in (await client.get("/v1/assignments")).json() if a["case_id"] in (str(case_a), str(case_b))]
        assert len(mine) == 1
