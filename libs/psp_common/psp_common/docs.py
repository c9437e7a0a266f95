"""Generate each service's OpenAPI and AsyncAPI documents into ``docs/api`` (``make asyncapi``)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from psp_common.stack import SERVICES


def documents(service: str) -> dict[str, dict[str, Any]]:
    """Build the service's app (without starting it) and return its OpenAPI and AsyncAPI documents."""
    bootstrap = importlib.import_module(f"psp_{service}.bootstrap")
    settings_mod = importlib.import_module(f"psp_{service}.settings")
    settings_cls = next(
        getattr(settings_mod, n) for n in dir(settings_mod) if n.endswith("Settings") and n != "ServiceSettings"
    )
    app = bootstrap.build(settings_cls(database_url="sqlite+aiosqlite:///:memory:"))
    runtime = app.state.runtime
    return {
        f"{service}.openapi.json": app.openapi(),
        f"{service}.asyncapi.json": runtime.asyncapi(app.title),
    }


def render(doc: dict[str, Any]) -> str:
    """Stable JSON text."""
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"


def main(out: Path = Path("docs/api")) -> None:
    """Write every service's documents."""
    out.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        for name, doc in documents(service).items():
            (out / name).write_text(render(doc))
            print(f"wrote {out / name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/api"))
