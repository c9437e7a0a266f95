"""Deterministic CSV exports in the RL6 and Datix styles of services/listener/mappings (tests, manual timing).

Every row's content comes from ``random.Random(seed)`` and dates count back from a fixed instant, so the same
arguments always give the same bytes. Some rows are broken on purpose; ``Export.bad`` says which row (header =
row 1) and which field the import must name. Patient identifiers and narrative carry sentinels that must never
leave the listener.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from tests.clock import TEST_NOW

MAPPINGS = Path(__file__).resolve().parents[2] / "services" / "listener" / "mappings"
MRN = "MRN-SENTINEL-"
SECRET_WORDS = "narrative-sentinel"
BAD_HARM = "Catastrophic-sentinel"

RL6_HEADER = [
    "File ID", "File Version", "Site", "Site Time Zone", "Department", "Event Date", "Event Time", "Reported Date",
    "File Type", "Event Type", "Harm Level", "Patient Age Group", "Staff Impact", "Brief Factual Description",
    "Staff Involved ID", "Staff Involved Role", "Witness Staff ID", "Patient MRN", "Patient Name",
]  # fmt: skip
DATIX_HEADER = [
    "Ref", "Site", "Location (exact)", "Incident date", "Time", "Reported date", "Result", "Category",
    "Severity of harm", "Age band", "Description", "Staff involved (ID)", "Staff involved (job title)",
    "Witnesses (ID)", "NHS Number", "Patient name",
]  # fmt: skip
RL6_HARM = ["No Harm", "Mild Harm", "Moderate Harm", "Severe Harm", "Death"]
DATIX_HARM = ["No harm", "Low (minimal harm)", "Moderate (short term harm)", "Severe harm", "Death"]


@dataclass
class Export:
    """A generated export: where it is, its rows, and what the import must do with them."""

    path: Path
    mapping: Path
    rows: int = 0
    bad: dict[int, str] = field(default_factory=dict)  # row number -> field the error must name
    versions: list[tuple[str, int]] = field(default_factory=list)  # (report id, version) of every good row

    @property
    def good(self) -> int:
        """Rows that must be imported."""
        return self.rows - len(self.bad)


def _when(rng: random.Random) -> datetime:
    return TEST_NOW - timedelta(days=rng.randint(40, 900), minutes=rng.randint(0, 1439))


def rl6(path: Path, n: int, seed: int = 7, broken: bool = True) -> Export:
    """An RL6-style export of ``n`` rows; every 10th report also gets a version-2 row later in the file."""
    rng = random.Random(seed)
    out = Export(path, MAPPINGS / "rl6.yaml")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(RL6_HEADER)
    amend: list[list[str]] = []
    for i in range(n):
        when = _when(rng)
        row_no = out.rows + 2
        harm = rng.choice(RL6_HARM)
        date, clock = when.strftime("%m/%d/%Y"), when.strftime("%H:%M")
        staff = ";".join(f"E{rng.randint(1, 120):04d}" for _ in range(rng.randint(1, 3)))
        row = [
            f"F{i:06d}", "1", "GEN", "", rng.choice(["ICU", "ED", "4W", "OR"]), date, clock,
            when.strftime("%m/%d/%Y"), rng.choice(["Incident", "Near Miss", "Hazard"]),
            rng.choice(["Medication/Fluids", "Fall", "Security/Violence", "Other"]), harm,
            rng.choice(["Adult", "Pediatric", ""]), rng.choice(["", "", "Staff Assaulted", "Unexpected Death"]),
            f"{SECRET_WORDS} {i} patient collapsed", staff, "RN", rng.choice(["", f"E{rng.randint(1, 120):04d}"]),
            f"{MRN}{i}", f"Pat Name {i}",
        ]  # fmt: skip
        if broken and i % 37 == 5:
            row[10], out.bad[row_no] = BAD_HARM, "harm_level"
        elif broken and i % 53 == 9:
            row[4], out.bad[row_no] = "U" * 65, "unit"  # too long (a missing unit takes PSP_DEFAULT_UNIT)
        elif broken and i % 71 == 3:
            row[5], out.bad[row_no] = "02/31/2026", "occurred_at"
        else:
            out.versions.append((row[0], 1))
            if i % 10 == 0:
                amend.append([*row[:1], "2", *row[2:10], "Death", *row[11:]])
        w.writerow(row)
        out.rows += 1
    for row in amend:
        w.writerow(row)
        out.versions.append((row[0], 2))
        out.rows += 1
    path.write_text(buf.getvalue(), encoding="utf-8")
    return out


def datix(path: Path, n: int, seed: int = 11) -> Export:
    """A Datix-style export of ``n`` rows (UK dates, separate time column, comma-separated staff ids)."""
    rng = random.Random(seed)
    out = Export(path, MAPPINGS / "datix.yaml")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(DATIX_HEADER)
    for i in range(n):
        when = _when(rng)
        row_no = out.rows + 2
        staff = ",".join(f"D{rng.randint(1, 90):04d}" for _ in range(rng.randint(1, 2)))
        row = [
            f"W{i:05d}", "RVX", rng.choice(["Ward 7", "A&E", "Theatres"]), when.strftime("%d/%m/%Y"),
            rng.choice([when.strftime("%H:%M"), ""]), when.strftime("%d/%m/%Y %H:%M"),
            rng.choice(["Incident", "Near miss", "Hazard"]),
            rng.choice(["Medication", "Slips, trips, falls", "Violence, aggression and abuse"]),
            rng.choice(DATIX_HARM), rng.choice(["Adult", "Child", "Neonate"]), f"{SECRET_WORDS} {i}", staff,
            "Staff Nurse", "", f"{MRN}{i}", f"Pat Name {i}",
        ]  # fmt: skip
        if i % 41 == 7:
            row[8], out.bad[row_no] = BAD_HARM, "harm_level"
        elif i % 59 == 2:
            row[11], out.bad[row_no] = "", "involved_staff"
        else:
            out.versions.append((row[0], 1))
        w.writerow(row)
        out.rows += 1
    path.write_text(buf.getvalue(), encoding="utf-8")
    return out
