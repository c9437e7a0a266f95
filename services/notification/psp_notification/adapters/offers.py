"""Referral offers and approaches on the cases table: set when the request says so, answered by the encounter log."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_notification.adapters.orm import cases
from psp_notification.domain.approaches import Approach
from psp_notification.domain.offers import Offer


async def offer_of(session: AsyncSession, case_id: str) -> Offer | None:
    """The case's offer state (None when the case is not a referral offer)."""
    value = (await session.execute(select(cases.c.offer).where(cases.c.case_id == case_id))).scalar_one_or_none()
    return Offer(value) if value else None


async def approach_of_case(session: AsyncSession, case_id: str) -> Approach:
    """What kind of contact the case is (an incident's outreach unless a referral opened it)."""
    value = (await session.execute(select(cases.c.approach).where(cases.c.case_id == case_id))).scalar_one_or_none()
    return Approach(value) if value else Approach.INCIDENT


async def set_offer(session: AsyncSession, case_id: str, offer: Offer) -> None:
    """Record the person's answer."""
    await session.execute(update(cases).where(cases.c.case_id == case_id).values(offer=offer.value))
