"""``GET /v1/board``: the coordinators' live board, open cases with the times their clocks run from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_notification.adapters.board import BoardRow, open_cases

router = APIRouter(tags=["coordinator"], responses=AUTH_RESPONSES, dependencies=[Depends(require(Scope.COORDINATOR))])


class BoardCase(BaseModel):
    """An open case: where it stands and the instants its clocks count from (pseudonyms only)."""

    case_id: str = Field(description="Case id.")
    facility: str = Field(description="Facility code.")
    unit: str = Field(description="Unit code.")
    urgency: str | None = Field(description="immediate, within_hours or within_days.")
    mode: str | None = Field(description="individual or group.")
    status: str = Field(description="The outreach's latest status (requested, notified, unmatched, escalated, ...).")
    occurred_at: datetime = Field(description="When the incident occurred.")
    requested_at: datetime = Field(description="When notification learned outreach was requested.")
    assignment_id: str | None = Field(description="Current assignment, once matched.")
    assignment_state: str | None = Field(description="paging, acknowledged, escalated, contacted or closed.")
    primary_ref: str | None = Field(description="Pseudonym of the matched primary supporter.")
    acknowledged_by: str | None = Field(description="Pseudonym of the supporter who took the case.")
    matched_at: datetime | None = Field(description="When the assignment arrived.")
    acknowledged_at: datetime | None = Field(description="When a supporter took the case.")
    contact_deadline: datetime | None = Field(description="When the colleague should have been contacted by.")
    contacted_at: datetime | None = Field(description="When the colleague was reached.")
    contact_overdue_escalated: bool = Field(description="The coordinator was paged because contact is overdue.")
    paged_ref: str | None = Field(description="Pseudonym of the supporter whose page awaits an answer.")
    paged_at: datetime | None = Field(description="When that page was sent.")
    ack_deadline: datetime | None = Field(description="When that page's acknowledgement window ends.")

    @classmethod
    def from_row(cls, row: BoardRow) -> BoardCase:
        """Flatten a board row."""
        c, a, p = row.case, row.assignment, row.awaiting
        return cls(
            case_id=c.case_id,
            facility=c.facility,
            unit=c.unit,
            urgency=c.urgency,
            mode=c.mode,
            status=c.status,
            occurred_at=c.occurred_at,
            requested_at=c.created_at,
            assignment_id=a.assignment_id if a else None,
            assignment_state=a.state if a else None,
            primary_ref=a.primary_ref if a else None,
            acknowledged_by=a.acknowledged_by if a else None,
            matched_at=a.matched_at if a else None,
            acknowledged_at=a.acknowledged_at if a else None,
            contact_deadline=a.contact_deadline if a else None,
            contacted_at=a.contacted_at if a else None,
            contact_overdue_escalated=bool(a.overdue_escalated) if a else False,
            paged_ref=p.recipient_ref if p else None,
            paged_at=p.sent_at if p else None,
            ack_deadline=p.ack_deadline if p else None,
        )


class Board(BaseModel):
    """Open cases, oldest incident first (the console orders them by what needs a human first)."""

    items: list[BoardCase] = Field(description="Open cases.")
    ack_window_minutes: float = Field(description="The acknowledgement window (PSP_ACK_WINDOW_MINUTES).")
    contact_deadline_hours: float = Field(description="Contact expected within this after the match.")


@router.get("/v1/board", response_model=Board, summary="Open cases with their clocks' start and deadline times.")
async def board(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000, description="Most cases returned.")] = 500
) -> Board:
    """Every case not closed, with its newest assignment and the page awaiting an answer."""
    c = request.app.state.container
    async with c.runtime.session() as session:
        rows = await open_cases(session, limit)
    return Board(
        items=[BoardCase.from_row(r) for r in rows],
        ack_window_minutes=c.settings.ack_window_minutes,
        contact_deadline_hours=c.settings.contact_deadline_hours,
    )
