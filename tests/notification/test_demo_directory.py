"""`make run` loads a demo staff directory, so its supporter page shows whom to call."""

from __future__ import annotations

import csv
import io

from psp_common import demo
from tests.notification.support import Env


async def test_the_demo_directory_imports_cleanly_and_names_everyone_the_demo_reports_involve(env: Env) -> None:
    r = await env.client.post(
        "/v1/directory/import.csv", content=demo.DIRECTORY_CSV.encode(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == 0 and r.json()["errors"] == []
    listed = {row["staff_id"] for row in csv.DictReader(io.StringIO(demo.DIRECTORY_CSV))}
    assert demo.involved_staff_ids() <= listed
    for staff_id in sorted(demo.involved_staff_ids()):
        entry = (await env.client.get(f"/v1/directory/{staff_id}")).json()
        assert entry["display_name"] and entry["phone"].startswith("+1416555")
