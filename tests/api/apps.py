"""Service apps for API tests: built with ``bootstrap.build``, lifespan only migrates (no broker)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from psp_common.migrations import upgrade_async


def settings_for(service: str, url: str) -> Any:
    """The service's settings class on ``url``."""
    mod = importlib.import_module(f"psp_{service}.settings")
    cls = next(getattr(mod, n) for n in dir(mod) if n.endswith("Settings") and n != "ServiceSettings")
    return cls(database_url=url, kafka_create_topics=False)


def offline_app(service: str, url: str) -> FastAPI:
    """The service app on ``url`` whose lifespan only runs the migrations (no broker, relay or loops)."""
    bootstrap = importlib.import_module(f"psp_{service}.bootstrap")
    app: FastAPI = bootstrap.build(settings_for(service, url))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upgrade_async(bootstrap.MIGRATIONS, url)
        app.state.runtime.ready = True
        yield
        await app.state.runtime.engine.dispose()

    app.router.lifespan_context = lifespan
    return app
