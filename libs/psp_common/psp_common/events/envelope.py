"""The common envelope of every event on the bus."""

from __future__ import annotations

from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from psp_common.clock import utcnow
from psp_common.ids import uuid4

__all__ = ["AwareDatetime", "Envelope", "Frozen"]
# AwareDatetime: a timestamp that carries a time zone. pydantic checks it natively; a Python validator here cost a
# call out of pydantic-core for every timestamp of every event built or consumed (the same schema in AsyncAPI).


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
