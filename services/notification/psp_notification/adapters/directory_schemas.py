"""HTTP shapes of the staff directory (coordinators only; never published on a topic)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from psp_notification.adapters.directory import StoredEntry
from psp_notification.adapters.directory_import import Problem
from psp_notification.directory import ImportCounts


class DirectoryEntryOut(BaseModel):
    """A colleague as the directory knows them (a reveal: audited)."""

    staff_ref: str = Field(description="Pseudonym the entry is stored under.")
    display_name: str = Field(description="Name to address them by.")
    role: str | None = Field(None, description="Role or profession.")
    unit: str | None = Field(None, description="Unit, ward or department.")
    phone: str | None = Field(None, description="Work phone, E.164 (an extension as ';ext=').")
    pager: str | None = Field(None, description="Pager number.")
    email: str | None = Field(None, description="Work e-mail address.")
    source: str = Field(description="Where it was loaded from: csv, fhir or scim.")
    updated_at: datetime = Field(description="Last change.")

    @classmethod
    def of(cls, stored: StoredEntry) -> DirectoryEntryOut:
        """The response body of a stored entry."""
        e = stored.entry
        return cls(
            staff_ref=stored.staff_ref,
            display_name=e.display_name,
            role=e.role,
            unit=e.unit,
            phone=e.phone,
            pager=e.pager,
            email=e.email,
            source=stored.source,
            updated_at=stored.updated_at,
        )


class CsvRowError(BaseModel):
    """A rejected CSV row: line number (header = 1), column and reason (never the value)."""

    row: int = Field(description="Line number; the header is line 1 (-1 for the upload as a whole).")
    column: str = Field(description="Offending column ('row', 'body', 'header[i]' or 'mode' when not one column).")
    reason: str = Field(description="Why it was rejected.")


class BundleEntryError(BaseModel):
    """A rejected Bundle entry: its index in ``Bundle.entry``, the element and reason (never the value)."""

    entry: int = Field(description="Index into Bundle.entry (first = 0; -1 for the Bundle itself).")
    element: str = Field(description="Offending element, e.g. 'Practitioner.telecom[1].value'.")
    reason: str = Field(description="Why it was rejected.")


class ImportReportBase(BaseModel):
    """Counts of a directory import."""

    detail: str = Field(description="Summary.")
    mode: str = Field(description="upsert or replace.")
    received: int = Field(description="People in the upload (good and rejected).")
    created: int = Field(description="People added to the directory.")
    updated: int = Field(description="People whose entry was replaced.")
    removed: int = Field(description="People removed: marked inactive, or (replace) absent from the upload.")
    rejected: int = Field(description="Rows or entries rejected (see errors).")


class CsvImportReport(ImportReportBase):
    """Result of a CSV directory import."""

    errors: list[CsvRowError] = Field(default_factory=list, description="Rejected rows.")


class BundleImportReport(ImportReportBase):
    """Result of a FHIR Bundle directory import."""

    errors: list[BundleEntryError] = Field(default_factory=list, description="Rejected entries.")


def summary(mode: str, received: int, counts: ImportCounts, problems: list[Problem]) -> dict[str, object]:
    """The common fields of an import report."""
    rejected = len({p.position for p in problems if p.field != "mode"})
    detail = f"{counts.created + counts.updated} stored, {counts.removed} removed, {rejected} rejected"
    return {
        "detail": detail,
        "mode": mode,
        "received": received,
        "created": counts.created,
        "updated": counts.updated,
        "removed": counts.removed,
        "rejected": rejected,
    }


def csv_report(mode: str, received: int, counts: ImportCounts, problems: list[Problem]) -> CsvImportReport:
    """A CSV import's report."""
    errors = [CsvRowError(row=p.position, column=p.field, reason=p.reason) for p in problems]
    return CsvImportReport(**summary(mode, received, counts, problems), errors=errors)  # type: ignore[arg-type]


def bundle_report(mode: str, received: int, counts: ImportCounts, problems: list[Problem]) -> BundleImportReport:
    """A Bundle import's report."""
    errors = [BundleEntryError(entry=p.position, element=p.field, reason=p.reason) for p in problems]
    return BundleImportReport(**summary(mode, received, counts, problems), errors=errors)  # type: ignore[arg-type]
