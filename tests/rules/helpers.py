"""Shared builders for the rules tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psp_common.events.intake import IncidentObserved
from psp_common.events.vocab import StaffRef
from psp_common.pseudonym import Pseudonymizer
from psp_rules.settings import RulesSettings

OCCURRED = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def staff(*ids: str, settings: RulesSettings | None = None) -> tuple[StaffRef, ...]:
    """StaffRefs pseudonymized the way the listener does it."""
    pseudo = Pseudonymizer.from_settings(settings or RulesSettings())
    return tuple(StaffRef(pseudonym=pseudo.pseudonym(i), key_id=pseudo.key_id, role="rn") for i in ids)


def observed(
    ref: str | None = None, version: int = 1, *, ids: tuple[str, ...] = ("E1",), **kw: Any
) -> IncidentObserved:
    """An IncidentObserved built with the psp_common model."""
    body: dict[str, Any] = {
        "occurred_at": OCCURRED,
        "correlation_id": uuid.uuid4(),
        "incident_ref": ref or f"ref_{uuid.uuid4().hex}",
        "report_version": version,
        "source_kind": "native",
        "facility": "GEN",
        "unit": "ICU",
        "event_class": "incident",
        "harm_level": "death",
        "staff": staff(*ids),
    }
    body.update(kw)
    return IncidentObserved.model_validate(body)
