"""Intake errors as pydantic ValidationErrors, so HTTP and the dead-letter path name field and reason."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def invalid(title: str, issues: Sequence[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """A ValidationError with one ``(location, reason)`` entry per issue (no input values)."""
    details: list[InitErrorDetails] = [
        {"type": PydanticCustomError("intake", reason), "loc": loc, "input": None} for loc, reason in issues
    ]
    return ValidationError.from_exception_data(title, details)


def malformed(title: str, reason: str) -> ValidationError:
    """A ValidationError reported as unparseable JSON (HTTP 400)."""
    details: list[InitErrorDetails] = [{"type": "json_invalid", "loc": (), "input": "", "ctx": {"error": reason}}]
    return ValidationError.from_exception_data(title, details)
