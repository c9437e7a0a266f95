"""docker-compose.yml cannot start here (no Docker engine): check it by reading and parsing its config."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from psp_common import topics
from psp_common.auth_keys import config_problems
from psp_common.settings import ServiceSettings
from psp_common.stack import SERVICES
from psp_common.startup import env_var, secret_fields, weak_secrets
from psp_listener.settings import ListenerSettings
from psp_matching.settings import MatchingSettings
from psp_notification.settings import NotificationSettings
from psp_rules.settings import RulesSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "listener": ListenerSettings,
    "rules": RulesSettings,
    "matching": MatchingSettings,
    "notification": NotificationSettings,
}
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]+\}")
STRONG = "K7vQ2mXp9LrT4wZs8bNc1yHd6fGj3aUe5kPo0iRt"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_is_wired_to_kafka_and_its_own_database() -> None:
    doc = compose()["services"]
    init_sql = (ROOT / "deploy/postgres-init.sql").read_text()
    for name in SERVICES:
        svc = doc[name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile" and svc["build"]["args"]["SERVICE"] == name
        assert svc["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        env = {k: str(v) for k, v in svc["environment"].items()}
        env = {k: REQUIRED.sub(STRONG, re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", v)) for k, v in env.items()}
        settings = ServiceSettings(**{k.removeprefix("PSP_").lower(): v for k, v in env.items()})
        assert settings.kafka_idempotence is True  # Apache Kafka supports the idempotent producer
        assert settings.kafka_bootstrap == "kafka:9092"
        assert settings.database_url.startswith("postgresql+asyncpg://")
        db = settings.database_url.rsplit("/", 1)[1]
        assert db == f"psp_{name}" and f"CREATE DATABASE {db};" in init_sql
        assert str(settings.http_port) in svc["healthcheck"]["test"][-1]


def test_kafka_is_kraft_and_init_creates_every_topic() -> None:
    doc = compose()["services"]
    kafka = doc["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    script = " ".join(doc["kafka-init"]["command"])
    created = set(re.findall(r"--topic (\S+)", script))
    assert created == set(topics.ALL_TOPICS)


def test_dockerfile_installs_from_the_lock_file() -> None:
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in text and "COPY pyproject.toml uv.lock" in text
    assert "USER psp" in text


def test_every_secret_is_required_from_env_without_a_default() -> None:
    doc = compose()["services"]
    for name in SERVICES:
        env = {k: str(v) for k, v in doc[name]["environment"].items()}
        assert env["PSP_ENV"] == "production"
        for field in secret_fields(SETTINGS[name]):
            var = env_var(SETTINGS[name], field)
            assert REQUIRED.fullmatch(env.get(var, "")), f"{name}: {var} must be ${{{var}:?...}}"
            assert REQUIRED.fullmatch(env[var]).group(1) == var  # type: ignore[union-attr]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:-" not in text and "${POSTGRES_PASSWORD:?" in text
    defaulted = [v for v in re.findall(r"\$\{(\w+(?:KEY|SECRET|PASSWORD)):-", text) if "PUBLIC" not in v]
    assert defaulted == [], f"secrets with a default: {defaulted}"


def test_compose_settings_pass_the_production_check_once_filled_in() -> None:
    doc = compose()["services"]
    for name in SERVICES:
        env = {k: str(v) for k, v in doc[name]["environment"].items()}
        filled = {k: REQUIRED.sub(f"{STRONG}-{k}", re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", v)) for k, v in env.items()}
        settings = SETTINGS[name](**{k.removeprefix("PSP_").lower(): v for k, v in filled.items()})
        assert settings.env == "production" and weak_secrets(settings) == [] and config_problems(settings) == []


def test_env_example_lists_every_required_variable_empty() -> None:
    text = (ROOT / ".env.example").read_text()
    example = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    required = set(REQUIRED.findall((ROOT / "docker-compose.yml").read_text()))
    assert required <= set(example), f"missing from .env.example: {required - set(example)}"
    assert all(example[var] == "" for var in required)
    assert "openssl rand -base64 48" in text
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_prometheus_scrapes_every_service_and_grafana_is_provisioned() -> None:
    doc = compose()["services"]
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    for name in SERVICES:
        port = re.search(r"127\.0\.0\.1:(\d+)/readyz", doc[name]["healthcheck"]["test"][-1])
        assert port is not None and f"{name}:{port.group(1)}" in targets
    assert all(job["metrics_path"] == "/metrics" for job in prom["scrape_configs"])
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in doc["prometheus"]["volumes"]
    grafana = doc["grafana"]
    assert REQUIRED.fullmatch(str(grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]))
    assert str(grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"]) == "false"
    assert all(p.startswith("127.0.0.1:") for svc in ("prometheus", "grafana") for p in doc[svc]["ports"])
    mounts = " ".join(grafana["volumes"])
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning" in mounts
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/psp.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/psp-outreach.json:{path}/psp-outreach.json:ro" in grafana["volumes"]
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"


def test_dashboard_charts_every_metric_the_services_export() -> None:
    import json

    dashboard = json.loads((ROOT / "deploy/grafana/psp-outreach.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert uids == {source["datasources"][0]["uid"]}
    code = (ROOT / "libs/psp_common/psp_common/metrics.py").read_text()
    code += (ROOT / "services/notification/psp_notification/metrics.py").read_text()
    code += (ROOT / "services/console/psp_console/metrics.py").read_text()
    exported = set(re.findall(r'"(psp_[a-z_]+)"', code))
    assert len(exported) >= 10
    for name in exported:
        assert name in exprs, f"{name} is not on the dashboard"
    charted = set(re.findall(r"\b(psp_[a-z_]+?)(?:_bucket|_total|_count|_sum)?\b", exprs))
    assert charted <= exported, f"dashboard charts unknown metrics: {charted - exported}"


def test_console_runs_behind_the_services_with_its_own_database_and_passes_the_production_check() -> None:
    from psp_console.settings import ConsoleSettings
    from psp_console.settings import config_problems as console_problems

    doc = compose()["services"]
    svc = doc["console"]
    assert svc["build"]["args"]["SERVICE"] == "console" and svc["command"] == ["python", "-m", "psp_console"]
    assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert all(svc["depends_on"][name]["condition"] == "service_healthy" for name in SERVICES)
    env = {k: str(v) for k, v in svc["environment"].items()}
    for name in SERVICES:  # the console calls each service's API on the compose network, at its own port
        port = re.search(r"127\.0\.0\.1:(\d+)/readyz", doc[name]["healthcheck"]["test"][-1])
        assert port is not None and env[f"PSP_{name.upper()}_URL"] == f"http://{name}:{port.group(1)}"
    assert REQUIRED.fullmatch(env["PSP_CONSOLE_OIDC_ISSUER"]) and REQUIRED.fullmatch(env["PSP_CONSOLE_PUBLIC_URL"])
    assert env["PSP_CONSOLE_OIDC_CLIENT_SECRET"].startswith("${PSP_CONSOLE_OIDC_CLIENT_SECRET?")  # set, may be empty
    filled = {k: REQUIRED.sub(f"{STRONG}-{k}", re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", v)) for k, v in env.items()}
    filled = {k: re.sub(r"\$\{\w+\?[^}]*\}", "", v) for k, v in filled.items()}
    filled |= {
        "PSP_CONSOLE_OIDC_ISSUER": "https://login.example.org",
        "PSP_CONSOLE_PUBLIC_URL": "https://psp.example.org",
    }
    settings = ConsoleSettings(**{k.removeprefix("PSP_").lower(): v for k, v in filled.items()})
    assert settings.env == "production" and weak_secrets(settings) == [] and console_problems(settings) == []
    db = settings.database_url.rsplit("/", 1)[1]
    assert db == "psp_console" and f"CREATE DATABASE {db};" in (ROOT / "deploy/postgres-init.sql").read_text()
    assert str(settings.http_port) in svc["healthcheck"]["test"][-1]
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert f"console:{settings.http_port}" in targets
    example = (ROOT / ".env.example").read_text()
    assert all(f"\n{var}=" in example for var in ("PSP_CONSOLE_PUBLIC_URL", "PSP_CONSOLE_OIDC_ISSUER"))
