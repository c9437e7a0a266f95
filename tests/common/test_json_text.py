"""JSON columns are written by pydantic-core (psp_common.json_text), and read back as json.dumps's text was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticSerializationError
from sqlalchemy import JSON, Column, Integer, MetaData, Table, insert, select, text

from psp_common import json_text
from psp_common.db import make_engine

VALUES: list[Any] = [
    {"content-type": "application/json", "x-dlq-reason": 'bad "quote" and \\ backslash'},
    [{"case_id": "5f0c6c2e-8a8e-4a0f-9d6b-1c1f0e6b1a11", "tier": 2, "score": 0.7251, "ok": True, "none": None}],
    {"unit": "Réanimation \u2013 3e étage", "emoji": "\U0001f6e1"},
    {"nested": {"a": [1, 2.5, -3, 1e-05, 12345678901234567890]}},
    "plain",
    [],
    {},
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_reads_back_as_json_dumps_does(value: Any) -> None:
    assert json.loads(json_text.dumps(value)) == json.loads(json.dumps(value)) == value


def test_dumps_rejects_what_is_not_json() -> None:
    with pytest.raises(PydanticSerializationError):
        json_text.dumps({"x": object()})


async def test_engines_write_json_columns_with_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    assert engine.dialect._json_serializer is json_text.dumps  # type: ignore[attr-defined]
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("doc", JSON, nullable=False))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            await conn.execute(insert(table), [{"id": i, "doc": v} for i, v in enumerate(VALUES)])
            stored = (await conn.execute(text("SELECT doc FROM t ORDER BY id"))).scalars().all()
            read = (await conn.execute(select(table.c.doc).order_by(table.c.id))).scalars().all()
    finally:
        await engine.dispose()
    assert stored[0] == json_text.dumps(VALUES[0])  # the text is pydantic-core's (compact), not json.dumps's
    assert read == VALUES
