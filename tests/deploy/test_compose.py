"""docker-compose.yml cannot start here (no Docker engine): check it by reading and parsing its config."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from psp_common import topics
from psp_common.settings import ServiceSettings
from psp_common.stack import SERVICES

ROOT = Path(__file__).resolve().parents[2]


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
        env = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", v) for k, v in env.items()}
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
