"""The hot lookups of a consumed batch, built once per dialect (building one per call costs about as much as
executing it).

PostgreSQL gets each list as one array parameter (``= ANY(:names)``): the statement text is the same whatever
the batch size, so the driver's prepared statement and the server's plan are reused; an expanding ``IN`` (one
parameter per value, the only form SQLite knows) made a new statement for every batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, func, select, union
from sqlalchemy.dialects import postgresql

from psp_rules.adapters.orm import case_members, cases, decisions, opt_outs

_STRINGS = postgresql.ARRAY(String)


@dataclass(frozen=True)
class Lookups:
    """The statements, for one dialect."""

    opt_outs: Any  # (pseudonym, scope) of :names in :scopes
    histories: Any  # (incident_ref, unit, max version) of :refs
    open_cases: Any  # open cases holding any of :names or covering any of :refs
    members_of: Any  # member rows of the cases :ids, in joining order

    @classmethod
    def build(cls, arrays: bool) -> Lookups:
        """``arrays``: one array parameter per list (PostgreSQL); else expanding IN."""

        def among(column: Any, name: str) -> ColumnElement[bool]:
            if arrays:
                return column == any_(bindparam(name, type_=_STRINGS))
            return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]

        holding = union(  # each branch an index lookup (an OR across them scanned every member and open case)
            select(case_members.c.case_id).where(among(case_members.c.pseudonym, "names")),
            select(case_members.c.case_id).where(among(case_members.c.incident_ref, "refs")),
            select(cases.c.case_id).where(among(cases.c.incident_ref, "refs")),
        )
        return cls(
            opt_outs=select(opt_outs.c.pseudonym, opt_outs.c.scope).where(
                among(opt_outs.c.pseudonym, "names"), among(opt_outs.c.scope, "scopes")
            ),
            histories=select(decisions.c.incident_ref, decisions.c.unit, func.max(decisions.c.report_version))
            .where(among(decisions.c.incident_ref, "refs"))
            .group_by(decisions.c.incident_ref, decisions.c.unit),
            open_cases=select(cases).where(cases.c.case_id.in_(holding), cases.c.status == "open"),
            members_of=select(case_members)
            .where(among(case_members.c.case_id, "ids"))
            .order_by(case_members.c.joined_at),
        )


ARRAYS = Lookups.build(arrays=True)
EXPANDING = Lookups.build(arrays=False)


def lookups_for(dialect: str) -> Lookups:
    """The statements for ``dialect`` (a name, e.g. 'postgresql')."""
    return ARRAYS if dialect == "postgresql" else EXPANDING
