"""Schemathesis against each service's OpenAPI document: generated requests never get a 5xx.

Each app is built with ``bootstrap.build`` on a fresh SQLite file; its lifespan only migrates the database
(no broker, no relay, no background loops), and every request carries a token with all four scopes.
``/readyz`` is left out: without a broker it answers 503 by design.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from psp_common.audit import OPS_PATHS
from psp_common.stack import SERVICES
from tests.api.apps import offline_app
from tests.support import auth_headers

MAX_EXAMPLES = 15
_DIR = Path(tempfile.mkdtemp(prefix="psp-schemathesis-"))


APPS = {service: offline_app(service, f"sqlite+aiosqlite:///{_DIR}/{service}.db") for service in SERVICES}
HEADERS = {service: auth_headers(app.state.runtime.settings, staff_id="S-FUZZ") for service, app in APPS.items()}


@schemathesis.pytest.parametrize(
    **{
        service: schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/readyz")
        for service, app in APPS.items()
    }
)
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    """Whatever the generated request, the answer is never a 5xx."""
    service = next(s for s, a in APPS.items() if a is case.operation.app)
    response = case.call(headers=HEADERS[service])
    what = f"{response.status_code} for {case.as_curl_command()}\n{response.text[:500]}"
    assert response.status_code < 500, what
    if case.path in OPS_PATHS or case.path.startswith("/v1/pages/"):  # no bearer: probes, signed page links
        return
    if "authorization" in {k.lower() for k in response.request.headers}:
        assert response.status_code not in (401, 403), what  # the token carries every scope and a staff_id
    else:
        assert response.status_code == 401, what  # schemathesis also tries without the token
