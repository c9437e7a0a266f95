"""``python -m psp_listener.historical import reports.csv --mapping mapping.yaml``: see the listener README.

Runs with the listener's settings (``PSP_DATABASE_URL``, pseudonym keys; production refuses dev secrets) against
its database; the running listener's outbox relay publishes what the import queued. Prints per-row errors (row
number, field, reason: never a value) and a progress bar with counts to stderr. Exit 0: every row imported or
already there; 1: some rows refused (the others imported); 2: a bad mapping, CSV header or checkpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from psp_common import startup
from psp_common.http import field_errors
from psp_common.logs import configure
from psp_common.migrations import upgrade_async
from psp_listener.bootstrap import MIGRATIONS, build_import
from psp_listener.historical.importer import Checkpoint, CheckpointMismatch, Counts, HistoricalImport, Record
from psp_listener.historical.mapping import Mapping, load_mapping
from psp_listener.settings import ListenerSettings

EXIT_ROWS_REFUSED, EXIT_CONFIG = 1, 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(prog="python -m psp_listener.historical", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import a CSV export of past occurrence reports")
    imp.add_argument("csv", type=Path, help="the export (first row: column names)")
    imp.add_argument("--mapping", type=Path, required=True, help="YAML mapping file (services/listener/mappings)")
    imp.add_argument("--checkpoint", type=Path, help="checkpoint file (default: <csv>.checkpoint.json)")
    imp.add_argument("--restart", action="store_true", help="ignore the checkpoint and read from the first row")
    imp.add_argument("--batch", type=int, default=200, help="rows per transaction (default 200)")
    imp.add_argument("--encoding", default="utf-8-sig", help="CSV encoding (default utf-8-sig; Datix: cp1252)")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def records(path: Path, encoding: str, mapping: Mapping) -> Iterator[tuple[int, Record]]:
    """Numbered records (the header is row 1); refuses a header lacking a column the mapping names."""
    with path.open(newline="", encoding=encoding) as fh:
        reader = csv.DictReader(fh)
        missing = sorted(mapping.named_columns() - set(reader.fieldnames or []))
        if missing:
            raise ValueError(f"CSV header lacks the mapping's column(s): {', '.join(missing)}")
        yield from enumerate(reader, start=2)


def count_rows(path: Path, encoding: str) -> int:
    """Data rows in the CSV (a first pass, for the progress bar's total)."""
    with path.open(newline="", encoding=encoding) as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)


def summary(counts: Counts) -> str:
    """One line of counts."""
    return (
        f"imported {counts.imported}, already there {counts.duplicates}, refused {counts.errors}, "
        f"skipped {counts.skipped} (before the checkpoint)"
    )


async def run_import(args: argparse.Namespace, settings: ListenerSettings, console: Console) -> int:
    """Import ``args.csv``; return the exit status."""
    try:
        mapping = load_mapping(args.mapping)
    except ValidationError as exc:
        for e in field_errors(exc):
            console.print(f"mapping: {e.field}: {e.reason}", markup=False)
        return EXIT_CONFIG
    except (OSError, yaml.YAMLError) as exc:
        console.print(f"mapping: unreadable ({type(exc).__name__})", markup=False)
        return EXIT_CONFIG
    checkpoint = Checkpoint(
        args.checkpoint or args.csv.with_name(args.csv.name + ".checkpoint.json"),
        Checkpoint.fingerprint_of(args.csv, args.mapping),
    )
    if args.restart:
        checkpoint.path.unlink(missing_ok=True)
    try:
        checkpoint.last_row()
    except CheckpointMismatch:
        console.print(
            f"{checkpoint.path}: written for another CSV or mapping; pass --restart to read from the first row"
            " (reports already imported are then recognised and skipped)",
            markup=False,
        )
        return EXIT_CONFIG
    await upgrade_async(MIGRATIONS, settings.database_url)
    runtime, normalizer = build_import(settings)
    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeRemainingColumn(),
        console=console,
        disable=args.no_progress,
    )
    total = count_rows(args.csv, args.encoding)
    task = progress.add_task("rows", total=total, counts="")

    def on_row(row: int, counts: Counts) -> None:  # ok: committed so far (a batch counts once committed)
        text = f"ok {counts.imported + counts.duplicates} refused {counts.errors}"
        progress.update(task, completed=row - 1, counts=text)

    job = HistoricalImport(
        runtime.uow,
        normalizer,
        mapping,
        checkpoint,
        batch=args.batch,
        on_row=on_row,
        on_error=lambda error: progress.console.print(str(error), markup=False),
    )
    try:
        with progress:
            counts = await job.run(records(args.csv, args.encoding, mapping))
            on_row(total + 1, counts)  # the last batch is committed now
    except ValueError as exc:
        console.print(str(exc), markup=False)
        return EXIT_CONFIG
    finally:
        await runtime.engine.dispose()
    console.print(summary(counts), markup=False)
    return EXIT_ROWS_REFUSED if counts.errors else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: settings checked as at service start (exit 2 on a problem), then the import."""
    args = parse_args(argv)
    settings = startup.load(ListenerSettings)
    configure(settings.log_level, settings.service_name)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the migration steps would break the progress bar
    return asyncio.run(run_import(args, settings, Console(stderr=True, soft_wrap=True)))


if __name__ == "__main__":
    sys.exit(main())
