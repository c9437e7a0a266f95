"""Import loop: rows -> native reports -> the normal intake, committed in batches behind a checkpoint file.

Exactly once, whatever row a run is interrupted at:

- Rows are staged in batches of ``batch`` through ``handlers.stage_batch`` (the live intake's store-and-queue:
  report-version dedupe, outbox) and committed in one transaction; only then is the checkpoint (the last
  committed row) written, atomically (temporary file + rename).
- A run interrupted before a commit loses nothing: that batch was never committed, the checkpoint still points
  before it, and the next run reads it again.
- A run interrupted between a commit and the checkpoint write resends that batch: each of its reports already
  has its version stored, so ``stage_batch`` answers ``duplicate`` and neither stores nor queues anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import ValidationError

from psp_common.db import UowFactory
from psp_common.events.intake import IncidentObserved
from psp_common.http import field_errors
from psp_listener import handlers
from psp_listener.adapters.drafts import IncidentDraft
from psp_listener.domain.model import Disposition
from psp_listener.domain.triage import TriageReason
from psp_listener.historical.mapping import Mapping, to_report
from psp_listener.normalizer import Normalizer

# A historical row the live intake would hold for triage is refused instead (field, reason), as before triage.
UNATTRIBUTED = {
    TriageReason.NO_STAFF: ("involved_staff", "no staff named (historical rows are not held for triage)"),
    TriageReason.STAFF_UNIDENTIFIED: ("involved_staff", "staff named without an id"),
    TriageReason.NO_FACILITY: ("facility", "no facility and no default facility set"),
}

Record = dict[str, str | None]


@dataclass
class Counts:
    """What a run did (counts only: nothing identifying)."""

    rows: int = 0  # data rows after the checkpoint, read this run
    skipped: int = 0  # rows at or before the checkpoint: committed by an earlier run
    imported: int = 0  # stored and queued for the rules service
    duplicates: int = 0  # that report version (or a newer one) was already in the listener: nothing done
    errors: int = 0  # rows refused (reported by row number and field)


@dataclass(frozen=True)
class RowError:
    """A refused row: its number (the header is row 1, as a spreadsheet shows it), the field and the reason."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


class CheckpointMismatch(Exception):
    """The checkpoint file was written for another CSV or mapping."""


@dataclass
class Checkpoint:
    """The last committed row of one (CSV, mapping) pair, in a small JSON file (counts, no content)."""

    path: Path
    fingerprint: str

    @staticmethod
    def fingerprint_of(*files: Path) -> str:
        """SHA-256 over the files' bytes: a changed CSV or mapping does not resume an old checkpoint."""
        digest = hashlib.sha256()
        for f in files:
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()

    def last_row(self) -> int:
        """The last row a previous run committed (1: none, only the header)."""
        if not self.path.exists():
            return 1
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if data.get("fingerprint") != self.fingerprint:
            raise CheckpointMismatch(str(self.path))
        return int(data["row"])

    def save(self, row: int, counts: Counts) -> None:
        """Record ``row`` as committed (atomically: a crash leaves the old or the new file, never half)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        body = {"fingerprint": self.fingerprint, "row": row, "counts": asdict(counts)}
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, self.path)


@dataclass
class HistoricalImport:
    """Feeds numbered records through the normal intake; ``on_row`` sees the counts after each row."""

    uow: UowFactory
    normalizer: Normalizer
    mapping: Mapping
    checkpoint: Checkpoint
    batch: int = 200
    on_row: Callable[[int, Counts], None] = lambda row, counts: None
    on_error: Callable[[RowError], None] = lambda error: None
    counts: Counts = field(default_factory=Counts)

    async def run(self, records: Iterable[tuple[int, Record]]) -> Counts:
        """Import every record after the checkpoint; return the counts."""
        done = self.checkpoint.last_row()
        pending: list[IncidentObserved] = []
        last = done
        for row, record in records:
            if row <= done:
                self.counts.skipped += 1
                continue
            self.counts.rows += 1
            event = self._event(row, record)
            if event is not None:
                pending.append(event)
            last = row
            if len(pending) >= self.batch:
                await self._commit(pending, last)
                pending = []
            self.on_row(row, self.counts)
        if last > done:
            await self._commit(pending, last)
        return self.counts

    def _event(self, row: int, record: Record) -> IncidentObserved | None:
        """The historical IncidentObserved of a row, or None (reported) when the row is invalid."""
        try:
            event = self.normalizer.native(to_report(self.mapping, record))
        except ValidationError as exc:
            self.counts.errors += 1
            for e in field_errors(exc):
                self.on_error(RowError(row, e.field, e.reason))
            return None
        if isinstance(event, IncidentDraft):  # live intake would hold it for triage; history is not triaged
            self.counts.errors += 1
            for reason in event.reasons():
                self.on_error(RowError(row, *UNATTRIBUTED[reason]))
            return None
        return event.model_copy(update={"historical": True})

    async def _commit(self, events: list[IncidentObserved], row: int) -> None:
        """Stage and commit ``events`` in one transaction, then move the checkpoint to ``row``."""
        if events:
            async with self.uow() as uow:
                outcomes = await handlers.accept_batch(events, uow)
            accepted = sum(1 for o in outcomes if o.disposition is Disposition.ACCEPTED)
            self.counts.imported += accepted
            self.counts.duplicates += len(outcomes) - accepted
        self.checkpoint.save(row, self.counts)
