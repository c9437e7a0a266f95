"""A pseudonym key rotation as every service sees it: k1 before, k2 current with k1 kept as an old key."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from psp_common.events.vocab import StaffRef
from psp_common.pseudonym import Pseudonymizer
from psp_common.settings import ServiceSettings

K1 = "dev-only-pseudonym-key-change-me"  # the packaged key every service starts with (key id k1)
K2 = "rotated-pseudonym-key-0123456789abcdef"

BEFORE = Pseudonymizer.from_settings(ServiceSettings())
AFTER = Pseudonymizer.from_settings(
    ServiceSettings(pseudonym_key=SecretStr(K2), pseudonym_key_id="k2", pseudonym_old_keys={"k1": SecretStr(K1)})
)


def rotated(**kw: Any) -> dict[str, Any]:
    """Settings keyword arguments after the rotation (PSP_PSEUDONYM_KEY=k2's key, OLD_KEYS={"k1": ...})."""
    return {
        "pseudonym_key": SecretStr(K2),
        "pseudonym_key_id": "k2",
        "pseudonym_old_keys": {"k1": SecretStr(K1)},
        **kw,
    }


def retired(**kw: Any) -> dict[str, Any]:
    """Settings keyword arguments once k1 is retired (only k2's key left)."""
    return {"pseudonym_key": SecretStr(K2), "pseudonym_key_id": "k2", **kw}


def rotated_env() -> dict[str, str]:
    """The same rotation as environment variables (for service processes)."""
    return {
        "PSP_PSEUDONYM_KEY": K2,
        "PSP_PSEUDONYM_KEY_ID": "k2",
        "PSP_PSEUDONYM_OLD_KEYS": json.dumps({"k1": K1}),
    }


def staff_after(*ids: str, role: str = "rn") -> tuple[StaffRef, ...]:
    """StaffRefs as a rotated listener publishes them: pseudonym under k2, alias under k1."""
    out = []
    for i in ids:
        current, *aliases = AFTER.pseudonyms_of(i)
        out.append(StaffRef(pseudonym=current, key_id="k2", role=role, aliases=tuple(aliases)))
    return tuple(out)
