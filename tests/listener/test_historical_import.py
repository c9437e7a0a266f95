"""Historical import: CSV exports through the normal intake, marked historical, resumable, exactly once.

Exports are generated deterministically (tests/listener/historical_csv.py, dates counted back from TEST_NOW);
the command runs in-process (``main``) against SQLite, and against PostgreSQL for the interrupted run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from psp_common.clock import ManualClock
from psp_common.events.intake import IncidentObserved
from psp_common.migrations import upgrade_async
from psp_listener.adapters.orm import outbox, reports
from psp_listener.bootstrap import MIGRATIONS, build_import
from psp_listener.historical.__main__ import main, records
from psp_listener.historical.importer import Checkpoint, Counts, HistoricalImport
from psp_listener.historical.mapping import load_mapping
from psp_listener.settings import ListenerSettings
from psp_rules.adapters.orm import cases, decisions
from psp_rules.adapters.orm import outbox as rules_outbox
from tests.clock import TEST_NOW
from tests.listener.historical_csv import BAD_HARM, MRN, SECRET_WORDS, Export, datix, rl6
from tests.rules.test_event_time import rows, submit
from tests.rules.test_historical import stats


def run_cli(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> int:
    monkeypatch.setenv("PSP_DATABASE_URL", url)
    return main(["import", *args])


async def queued(url: str) -> list[IncidentObserved]:
    """Every IncidentObserved in the listener's outbox (what the relay publishes on the intake topic)."""
    rt, _ = build_import(ListenerSettings(database_url=url))
    try:
        async with rt.session() as s:
            payloads = (await s.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars().all()
            n_reports = (await s.execute(select(func.count()).select_from(reports))).scalar_one()
    finally:
        await rt.engine.dispose()
    events = [IncidentObserved.model_validate_json(p) for p in payloads]
    assert n_reports == len({e.incident_ref for e in events})  # one stored report per imported report
    return events


def assert_exactly_once(export: Export, events: list[IncidentObserved]) -> None:
    """Each good row queued once: as many events as good rows, no (report, version) twice, all historical."""
    assert len(events) == export.good
    per_version = Counter((e.incident_ref, e.report_version) for e in events)
    assert set(per_version.values()) == {1}
    assert Counter(v for _, v in export.versions) == Counter(e.report_version for e in events)
    assert all(e.historical for e in events)


@pytest.mark.parametrize("make", [rl6, datix], ids=["rl6", "datix"])
def test_an_export_imports_through_the_normal_intake_with_each_example_mapping(
    make: Any, tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    export = make(tmp_path / "export.csv", 300)
    status = run_cli(monkeypatch, sqlite_url, str(export.path), "--mapping", str(export.mapping))
    err = capsys.readouterr().err
    assert status == 1  # some rows refused, the others imported
    refused = [line for line in err.splitlines() if line.startswith("row ")]
    assert {(int(line.split(":")[0][4:]), line.split(": ")[1]) for line in refused} == set(export.bad.items())
    assert f"imported {export.good}, already there 0, refused {len(export.bad)}" in err
    assert f"{export.rows}/{export.rows} ok {export.good} refused {len(export.bad)}" in err  # the progress bar
    for sentinel in (BAD_HARM, MRN, SECRET_WORDS, "Pat Name", "E0", "D0"):
        assert sentinel not in err  # errors and progress: row numbers, fields and counts only
    events = asyncio.run(queued(sqlite_url))
    assert_exactly_once(export, events)
    wire = "".join(e.model_dump_json() for e in events)
    for sentinel in (MRN, SECRET_WORDS, "Pat Name", '"E0', '"D0'):
        assert sentinel not in wire  # stripped and pseudonymized like a live report
    assert all(s.pseudonym.startswith("ps_") for e in events for s in e.staff)
    assert {e.source_kind.value for e in events} == {"native"}
    assert any(e.harm_level and e.harm_level.value == "death" for e in events)  # value maps applied


def test_a_second_run_imports_nothing_and_a_restart_is_all_duplicates(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    export = rl6(tmp_path / "rl6.csv", 120, broken=False)
    args = (str(export.path), "--mapping", str(export.mapping), "--no-progress")
    assert run_cli(monkeypatch, sqlite_url, *args) == 0
    assert run_cli(monkeypatch, sqlite_url, *args) == 0  # the checkpoint says every row is done
    assert run_cli(monkeypatch, sqlite_url, *args, "--restart") == 0  # reads all again: the dedupe skips them
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("imported")]
    assert err == [
        f"imported {export.good}, already there 0, refused 0, skipped 0 (before the checkpoint)",
        f"imported 0, already there 0, refused 0, skipped {export.rows} (before the checkpoint)",
        f"imported 0, already there {export.good}, refused 0, skipped 0 (before the checkpoint)",
    ]
    assert_exactly_once(export, asyncio.run(queued(sqlite_url)))


def test_a_checkpoint_of_another_file_and_bad_mappings_stop_before_importing(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    export = rl6(tmp_path / "rl6.csv", 20, broken=False)
    checkpoint = tmp_path / "cp.json"
    Checkpoint(checkpoint, "another file").save(5, Counts())
    base = (str(export.path), "--mapping", str(export.mapping), "--checkpoint", str(checkpoint))
    assert run_cli(monkeypatch, sqlite_url, *base) == 2
    assert "written for another CSV or mapping" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("columns: {report_id: File ID}\nstaff: [{id: Staff Involved ID}]\n")
    assert run_cli(monkeypatch, sqlite_url, str(export.path), "--mapping", str(broken)) == 2
    assert "neither a column nor a constant for: source_system, facility, unit, occurred_at" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text(export.mapping.read_text().replace("unit: Department", "unit: Ward"))
    assert run_cli(monkeypatch, sqlite_url, str(export.path), "--mapping", str(other)) == 2
    assert "CSV header lacks the mapping's column(s): Ward" in capsys.readouterr().err
    assert asyncio.run(queued(sqlite_url)) == []


class Crash(Exception):
    """The simulated kill."""


class CrashingCheckpoint(Checkpoint):
    """Dies after the ``at``-th commit, before the checkpoint records it."""

    def __init__(self, path: Path, fingerprint: str, at: int) -> None:
        super().__init__(path, fingerprint)
        self.at, self.saves = at, 0

    def save(self, row: int, counts: Counts) -> None:
        self.saves += 1
        if self.saves == self.at:
            raise Crash
        super().save(row, counts)


async def import_once(export: Export, url: str, batch: int, *, kill_at_row: int = 0, kill_at_save: int = 0) -> Counts:
    """One run of the import loop; ``kill_at_row``: dies after that row (its batch uncommitted);
    ``kill_at_save``: dies after that commit, before its checkpoint."""
    rt, normalizer = build_import(ListenerSettings(database_url=url))
    mapping = load_mapping(export.mapping)
    path, fingerprint = export.path.with_suffix(".cp.json"), Checkpoint.fingerprint_of(export.path, export.mapping)
    checkpoint = CrashingCheckpoint(path, fingerprint, kill_at_save)

    def on_row(row: int, _: Counts) -> None:
        if row == kill_at_row:
            raise Crash

    job = HistoricalImport(rt.uow, normalizer, mapping, checkpoint, batch=batch, on_row=on_row)
    try:
        return await job.run(records(export.path, "utf-8-sig", mapping))
    finally:
        await rt.engine.dispose()


async def interrupted_then_resumed(export: Export, url: str, batch: int, **kill: int) -> Counts:
    """Run until the simulated kill, run again; assert every good row queued exactly once; the second run's counts."""
    with pytest.raises(Crash):
        await import_once(export, url, batch, **kill)
    resumed = await import_once(export, url, batch)
    assert_exactly_once(export, await queued(url))
    return resumed


async def test_a_run_killed_at_any_row_or_between_commit_and_checkpoint_imports_each_row_once(
    tmp_path: Path,
) -> None:
    export = rl6(tmp_path / "small.csv", 40)  # 40 rows + 4 amendments, 3 refused; batches of 7
    for kill in [{"kill_at_row": k} for k in range(2, export.rows + 2)] + [{"kill_at_save": k} for k in range(1, 7)]:
        url = f"sqlite+aiosqlite:///{tmp_path}/{next(iter(kill))}-{next(iter(kill.values()))}.db"
        export.path.with_suffix(".cp.json").unlink(missing_ok=True)
        await upgrade_async(MIGRATIONS, url)
        resumed = await interrupted_then_resumed(export, url, 7, **kill)
        if "kill_at_save" in kill:  # the committed batch was sent again: every row of it a no-op
            assert resumed.duplicates == min(7, export.good - 7 * (kill["kill_at_save"] - 1)), kill
        else:
            assert resumed.duplicates == 0, kill


async def check_interrupted_import_of_a_few_hundred_rows(url: str, tmp_path: Path) -> None:
    export = rl6(tmp_path / "big.csv", 300)
    await upgrade_async(MIGRATIONS, url)
    resumed = await interrupted_then_resumed(export, url, 50, kill_at_save=3)  # dies after 150 good rows
    assert (resumed.duplicates, resumed.imported) == (50, export.good - 150)  # the 3rd batch again: no-ops
    export.path.with_suffix(".cp.json").unlink()
    await upgrade_async(MIGRATIONS, url)
    with pytest.raises(Crash):  # the same file again from scratch, killed mid-batch: only no-ops
        await import_once(export, url, 50, kill_at_row=200)
    again = await import_once(export, url, 50)
    assert again.imported == 0 and again.duplicates > 0 and again.skipped > 0
    assert_exactly_once(export, await queued(url))


async def test_an_interrupted_import_of_a_few_hundred_rows_resumes_exactly_once_sqlite(
    sqlite_url: str, tmp_path: Path
) -> None:
    await check_interrupted_import_of_a_few_hundred_rows(sqlite_url, tmp_path)


@pytest.mark.postgres
async def test_an_interrupted_import_of_a_few_hundred_rows_resumes_exactly_once_postgres(
    pg_url: str, tmp_path: Path
) -> None:
    await check_interrupted_import_of_a_few_hundred_rows(pg_url, tmp_path)


async def test_imported_rows_reach_rules_which_decide_and_count_them_but_page_nobody(
    tmp_path: Path, sqlite_url: str
) -> None:
    export = rl6(tmp_path / "rl6.csv", 60, broken=False)
    await upgrade_async(MIGRATIONS, sqlite_url)
    await import_once(export, sqlite_url, 25)
    events = await queued(sqlite_url)  # what the listener's relay publishes on the intake topic
    app = await submit(f"sqlite+aiosqlite:///{tmp_path}/rules.db", ManualClock(TEST_NOW), *events, stats_min_cell=1)
    try:
        outcomes = [o for (o,) in await rows(app, select(decisions.c.outcome))]
        assert len(outcomes) == export.good  # every version decided ...
        assert await rows(app, select(cases.c.case_id)) == [] and await rows(app, select(rules_outbox.c.id)) == []
        held = sum(1 for o in outcomes if o.startswith("not paged (historical import)"))
        body = await stats(app)
        assert held > 0 and body["not_paged"] == held == body["decisions"] - body["no_trigger"]  # ... and counted
    finally:
        await app.state.container.runtime.engine.dispose()


def test_a_row_live_intake_would_triage_is_refused_not_held(tmp_path: Path) -> None:
    """Missing staff or facility is held for triage live; a historical row is refused by field instead."""
    from psp_listener.historical.importer import RowError
    from tests.listener.conftest import make_normalizer

    export = rl6(tmp_path / "one.csv", 1, broken=False)
    mapping = load_mapping(export.mapping)
    row, record = next(iter(records(export.path, "utf-8", mapping)))
    errors: list[RowError] = []
    job = HistoricalImport(
        uow=None,  # type: ignore[arg-type]  # never reached: no commit in this test
        normalizer=make_normalizer(),
        mapping=mapping,
        checkpoint=Checkpoint(tmp_path / "cp.json", "x"),
        on_error=errors.append,
    )
    assert job._event(row, record) is not None
    no_staff = {**record, "Staff Involved ID": "", "Witness Staff ID": ""}
    assert job._event(row, no_staff) is None
    assert [(e.row, e.field) for e in errors] == [(row, "involved_staff")] and job.counts.errors == 1
