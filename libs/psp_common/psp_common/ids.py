"""Random (version 4) UUIDs drawn from one ``os.urandom`` call per batch instead of one per id.

``uuid.uuid4()`` reads 16 bytes from the kernel's CSPRNG on every call: a system call per event id, which on the
VMs the pipeline runs on costs more than building the event around it. ``uuid4()`` here reads the same CSPRNG
(``os.urandom``) for ``BATCH`` ids at once and hands them out one by one: the ids are as unpredictable as
``uuid.uuid4()``'s, and are RFC 4122 version 4 UUIDs (variant and version bits set the same way).

Taking an id is ``list.pop`` (atomic under the GIL), so threads may share the pool; a forked child starts with an
empty pool so it never hands out its parent's ids.
"""

from __future__ import annotations

import hashlib
import os
from uuid import UUID, SafeUUID

__all__ = ["BATCH", "uuid4", "uuid4_str", "uuid5_text"]

BATCH = 256  # ids per os.urandom call (4 KiB)

_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))  # the variant and version fields
_SET = (0x8000 << 48) | (4 << 76)  # variant RFC 4122, version 4
_pool: list[int] = []
_new = object.__new__
_set = object.__setattr__


def _refill() -> None:
    raw = os.urandom(16 * BATCH)
    _pool.extend((int.from_bytes(raw[i : i + 16]) & _CLEAR) | _SET for i in range(0, len(raw), 16))


def _next_int() -> int:
    while True:
        try:
            return _pool.pop()
        except IndexError:
            _refill()


def uuid4() -> UUID:
    """A fresh random (version 4) UUID, like ``uuid.uuid4()``.

    Built the way ``UUID(int=...)`` ends (its two slots set directly): the int is already in range with its
    version and variant set, so ``UUID.__init__``'s checks would only cost a microsecond per id.
    """
    value = _new(UUID)
    _set(value, "int", _next_int())
    _set(value, "is_safe", SafeUUID.unknown)
    return value


def uuid4_str() -> str:
    """``str(uuid4())``."""
    return str(uuid4())


os.register_at_fork(after_in_child=_pool.clear)


def uuid5_text(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))`` without building a ``UUID`` (deterministic ids derived per
    event: case ids, correlation ids). The events' UUID fields parse the text in pydantic-core."""
    digest = bytearray(hashlib.sha1(namespace + name.encode(), usedforsecurity=False).digest()[:16])  # RFC 4122
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
