"""Typed rows of the ``cases`` and ``status_log`` tables as their reads return them (timezone-aware datetimes)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Row

from psp_common.db import aware

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    T = TypeVar("T", bound=DataclassInstance)


@dataclass(frozen=True)
class CaseRow:
    """A case as stored: where and when, its decision and where its outreach stands (pseudonymous)."""

    case_id: str
    correlation_id: str
    facility: str
    unit: str
    urgency: str | None
    mode: str | None
    triggers: list[dict[str, Any]]  # RuleHit dicts
    flagged: bool
    occurred_at: datetime
    status: str
    created_at: datetime
    updated_at: datetime
    purged_at: datetime | None
    offer: str | None
    approach: str | None


@dataclass(frozen=True)
class StatusRow:
    """One lifecycle change of a case."""

    id: int
    event_id: str
    case_id: str
    assignment_id: str | None
    status: str
    supporter_ref: str | None
    channel: str | None
    detail: str | None
    at: datetime


def typed(row_type: type[T], row: Row[Any]) -> T:
    """A row read into ``row_type`` (a dataclass of the row's columns), its datetimes timezone-aware."""
    m = row._mapping
    return row_type(**{f.name: aware(v) if isinstance(v := m[f.name], datetime) else v for f in fields(row_type)})
