"""Where a validation error is, naming schema fields only: a key the input chose is never echoed.

pydantic puts an unknown key itself at the end of an ``extra_forbidden`` error's location, so a sender's
``{"patient_ssn_123-45-6789": ...}`` would otherwise reach an HTTP answer, a dead-letter header, the quarantine
table and the log line. Every error location that leaves a service goes through :func:`safe_loc`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

EXTRA_FIELD = "<extra field>"


def safe_loc(error: Mapping[str, Any], known: Collection[str] = ()) -> tuple[str | int, ...]:
    """The error's location, a key taken from the input (an extra field) replaced by ``<extra field>``.

    An extra key that is in ``known`` (names the schema itself uses elsewhere, e.g. an element of another
    FHIR release) is kept: it is not the sender's invention.
    """
    loc = tuple(p if isinstance(p, int) else str(p) for p in error.get("loc", ()))
    if error.get("type") == "extra_forbidden" and loc and loc[-1] not in known:
        return (*loc[:-1], EXTRA_FIELD)
    return loc


def dotted(error: Mapping[str, Any]) -> str:
    """The safe location as a dotted path ('' for the whole body)."""
    return ".".join(str(p) for p in safe_loc(error))
