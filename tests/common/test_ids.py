"""psp_common.ids: version 4 UUIDs from one os.urandom call per batch."""

from __future__ import annotations

import os
import pickle
import uuid

import pytest

from psp_common import ids


def test_ids_are_random_version_4_uuids() -> None:
    for _ in range(3 * ids.BATCH):
        value = ids.uuid4()
        assert isinstance(value, uuid.UUID)
        assert value.version == 4
        assert value.variant == uuid.RFC_4122
        assert value == uuid.UUID(str(value)) == uuid.UUID(int=value.int)
        assert hash(value) == hash(uuid.UUID(int=value.int))
        assert pickle.loads(pickle.dumps(value)) == value


def test_ids_are_unique_over_many_draws() -> None:
    drawn = [ids.uuid4() for _ in range(50 * ids.BATCH)]
    assert len(set(drawn)) == len(drawn)
    assert len({ids.uuid4_str() for _ in range(ids.BATCH)}) == ids.BATCH


def test_one_urandom_call_per_batch_and_the_pool_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = ids.os.urandom

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(ids.os, "urandom", counting)
    monkeypatch.setattr(ids, "_pool", [])  # start from an empty pool
    drawn = {ids.uuid4() for _ in range(2 * ids.BATCH + 1)}
    assert len(drawn) == 2 * ids.BATCH + 1
    assert calls == [16 * ids.BATCH] * 3  # three refills for two batches and one more id


def test_ids_take_all_their_random_bits_from_urandom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids.os, "urandom", lambda n: b"\xff" * n)
    monkeypatch.setattr(ids, "_pool", [])
    assert str(ids.uuid4()) == "ffffffff-ffff-4fff-bfff-ffffffffffff"  # only the version and variant bits cleared
    monkeypatch.setattr(ids.os, "urandom", lambda n: b"\x00" * n)
    monkeypatch.setattr(ids, "_pool", [])
    assert str(ids.uuid4()) == "00000000-0000-4000-8000-000000000000"


def test_a_forked_child_does_not_hand_out_its_parents_ids() -> None:
    ids.uuid4()  # the pool holds ids now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, ids.uuid4().bytes)
        os._exit(0)
    os.close(write)
    child = uuid.UUID(bytes=os.read(read, 16))
    os.close(read)
    os.waitpid(pid, 0)
    assert child != ids.uuid4()


def test_uuid5_text_is_uuid5s_text() -> None:
    names = ["", "psp:ref:1", "x" * 300, "ünïcode|group"] + [f"ref-{i}|p{i * 7}" for i in range(200)]
    for ns in (uuid.NAMESPACE_URL, uuid.UUID("6f1d3c1e-6b53-4c39-9a8e-5b0f2d1c7a10")):
        for name in names:
            assert ids.uuid5_text(ns.bytes, name) == str(uuid.uuid5(ns, name))
