"""Re-key the rules database: ``python -m psp_rules.rekey < staff_ids.txt`` (see psp_common.rekey).

Opt-outs are copied to the current pseudonym (the old rows stay until the old key is retired); case members
move to it, keeping the old pseudonym as an alias for events while the old key is still active.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import rekey
from psp_rules.adapters.repository import CaseRepository, OptOutRepository
from psp_rules.settings import RulesSettings


async def apply(session: AsyncSession, names: rekey.Renames, now: datetime) -> dict[str, int]:
    """Copy opt-outs and move case members from old pseudonyms to current ones."""
    moves = {old: (new, names.key_id, (old,)) for old, new in names.current.items()}
    return {
        "opt_outs": await OptOutRepository(session).link(names.current, now),
        "case_members": await CaseRepository(session).relink(moves),
    }


if __name__ == "__main__":
    rekey.main(RulesSettings, apply)
