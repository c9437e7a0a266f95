"""The common envelope of every event on the bus."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from psp_common.clock import utcnow


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class Frozen(BaseModel):
    """Immutable model that rejects unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(Frozen):
    """Fields every event carries; subclasses add the payload."""

    event_id: UUID = Field(default_factory=uuid4, description="Unique id of this event; consumers dedupe on it.")
    occurred_at: AwareDatetime = Field(description="When the fact this event records happened (time zone aware).")
    produced_at: AwareDatetime = Field(default_factory=utcnow, description="When the producer created the event.")
    schema_version: int = Field(1, ge=1, description="Version of this event's schema within its topic.")
    correlation_id: UUID = Field(description="Id shared by every event caused by the same intake message.")

    def partition_key(self) -> str:
        """Key to publish with so each entity's events stay ordered; subclasses override."""
        return str(self.correlation_id)
