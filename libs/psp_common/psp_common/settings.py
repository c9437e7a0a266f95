"""Service settings read from the environment (prefix ``PSP_``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""What PSP_AUTH_ALGORITHMS may name: never HS* (the key is public) nor none."""
SCOPE_NAMES = ("intake", "coordinator", "supporter", "analyst", "scim", "staff")
"""The scopes a role may map to (``psp_common.auth.Scope``; a test keeps the two equal)."""
DEFAULT_ROLE_SCOPES = {
    "coordinator": "coordinator",
    "supporter": "supporter",
    "analyst": "analyst",
    "staff": "staff",  # any staff member: refer themself or a colleague (the console's Refer page) only
}
"""Roles a token may carry and the scope each grants, unless ``PSP_AUTH_ROLE_SCOPES`` says otherwise."""
SECRET_MARK = "psp_secret"  # noqa: S105 - a marker name, not a secret
"""Key in a field's ``json_schema_extra`` marking a secret that production refuses at its packaged default."""


def secret(dev_value: str, description: str, *, waived_by: tuple[str, ...] = ()) -> Any:
    """A secret setting: ``dev_value`` serves make run and tests only; production refuses it, empty or short values.

    ``waived_by`` names settings that, when set, make this secret unused (it is then not checked).
    """
    return Field(
        SecretStr(dev_value),
        description=description,
        json_schema_extra={SECRET_MARK: True, "waived_by": list(waived_by)},
    )


class ServiceSettings(BaseSettings):
    """Settings every PSP Outreach service shares; each service may subclass to add its own."""

    model_config = SettingsConfigDict(env_prefix="PSP_", env_file=None, extra="ignore")

    env: Literal["production", "dev"] = Field(
        "production",
        description="production refuses packaged dev secrets at start; make run and the tests set dev.",
    )
    service_name: str = Field("psp", description="Name used for the Kafka client id and logs.")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated.")
    kafka_idempotence: bool = Field(
        True, description="Idempotent producer: on for Apache Kafka, off for the embedded Tansu broker."
    )
    kafka_fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        description="Longest a fetch waits for data while records flow; keep it low on brokers that do not answer "
        "early (Tansu).",
    )
    gc_young_threshold: int = Field(
        10_000,
        ge=100,
        description="Net allocations between two collections of the youngest generation, set once start-up is "
        "done and start-up's objects are frozen out of the collector's sight (psp_common.heap). Python's own "
        "default is 700; a service handling batches of events allocates many short-lived objects per batch.",
    )
    kafka_fetch_min_bytes: int = Field(
        1,
        ge=1,
        description="Bytes a fetch waits for (up to kafka_fetch_max_wait_ms) while records flow: under a trickle "
        "each fetch, transaction and offset commit then carries several records, at up to that wait of latency per "
        "hop. An idle subscriber's fetch asks for 1 byte. 1 suits Apache Kafka (it answers as soon as data "
        "arrives); the dev stack sets 4096 for the embedded Tansu, whose every fetch costs it a listing of the "
        "partition.",
    )
    kafka_idle_fetch_max_wait_ms: int = Field(
        500,
        ge=1,
        description="Longest a fetch waits for data once a subscriber has been idle (what an idle consumer costs: "
        "one fetch per wait, in the service and the broker).",
    )
    kafka_idle_after_ms: int = Field(
        2000, ge=100, description="A subscriber that got no records for this long uses the idle fetch wait."
    )
    kafka_lazy_fetch_ms: int = Field(
        500,
        ge=0,
        description="Bookkeeping subscriptions (a busy topic of which a service needs a few records that may wait, "
        "such as the statuses that close its cases) read it at most once per this while records flow, in fewer and "
        "larger batches: fewer fetches, transactions and offset commits for the broker and the service. 0: as fast "
        "as the others.",
    )
    kafka_doorbell_dir: str = Field(
        "",
        description="Directory of the Kafka doorbell shared by the services of one host (set by make run and the "
        "bench for the embedded Tansu, which does not answer a waiting fetch when records arrive): relays ring the "
        "topics they published to and idle subscribers wake at once instead of polling. Empty: off.",
    )
    kafka_batch_max: int = Field(
        100, ge=1, description="Events handled per database transaction by event subscribers (1 = one at a time)."
    )
    kafka_partitions: int = Field(3, description="Partitions for topics this service creates when missing.")
    kafka_replication: int = Field(1, description="Replication factor for topics this service creates.")
    kafka_create_topics: bool = Field(True, description="Create the service's topics at start if missing.")
    database_url: str = Field(
        "sqlite+aiosqlite:///./psp.db", description="SQLAlchemy async URL (PostgreSQL in production)."
    )
    http_host: str = Field("127.0.0.1", description="Bind address of the HTTP API.")
    http_port: int = Field(8000, description="Port of the HTTP API.")
    pseudonym_key: SecretStr = secret(
        "dev-only-pseudonym-key-change-me",
        "HMAC key turning staff ids into pseudonyms; the same key in every service.",
    )
    pseudonym_key_id: str = Field("k1", description="Id of the current pseudonym key, carried on events.")
    reference_key: SecretStr = secret(
        "dev-only-reference-key-change-me",
        "HMAC key for opaque source-report references; not rotated with the staff key.",
    )
    pseudonym_old_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="Previous keys by key id, still accepted while rotating."
    )
    max_attempts: int = Field(5, description="Handler attempts before a message is dead-lettered.")
    retry_backoff_s: float = Field(0.2, description="First backoff between handler retries (doubles).")
    outbox_poll_s: float = Field(
        5.0,
        description="Outbox relay poll interval when idle: a commit wakes the relay of its own process at once; "
        "this catches rows another process committed while no relay of its own ran.",
    )
    outbox_batch: int = Field(200, description="Outbox rows published per relay round.")
    log_level: str = Field("INFO", description="Root log level.")
    retention_days: float = Field(
        90, ge=0, description="Identifying data of a case is purged this long after it closes (counts are kept)."
    )
    retention_poll_s: float = Field(3600, gt=0, description="How often the retention purge looks for due cases.")
    retention_batch: int = Field(500, ge=1, description="Cases purged per transaction.")
    auth_jwt_secret: SecretStr = secret(
        "dev-only-jwt-secret-change-me-0123456789",
        "HS256 secret for bearer tokens; unused (and HS256 refused) once a public key, OIDC issuer or JWKS is set.",
        waived_by=("auth_jwt_public_key", "auth_oidc_issuer", "auth_jwks_url"),
    )
    auth_jwt_public_key: str | None = Field(
        None, description="PEM public key of the identity provider (RSA >= 2048 bits, EC or Ed25519; '\\n' accepted)."
    )
    auth_oidc_issuer: str | None = Field(
        None,
        description="OIDC issuer URL: keys from its discovery document's jwks_uri, and tokens' iss must equal it.",
    )
    auth_jwks_url: str | None = Field(None, description="JWKS URL of the identity provider (instead of discovery).")
    auth_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="Algorithms accepted from the identity provider (asymmetric only).",
    )
    auth_issuer: str = Field("psp-dev", description="Expected token issuer (iss) unless auth_oidc_issuer is set.")
    auth_audience: str = Field("psp-outreach", description="Expected token audience (aud).")
    auth_leeway_s: float = Field(30, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat.")
    auth_max_token_lifetime_s: float = Field(
        12 * 3600, gt=0, description="Tokens valid longer than this (exp - iat) are refused; iat is required."
    )
    auth_jwks_cache_s: float = Field(300, gt=0, description="How long a fetched JWKS is used before refetching.")
    auth_jwks_refresh_cooldown_s: float = Field(
        30, ge=0, description="Least time between refetches for an unknown kid (or a failed discovery)."
    )
    auth_jwks_timeout_s: float = Field(5, gt=0, description="Timeout of one discovery or JWKS request.")
    auth_role_claims: list[str] = Field(
        default_factory=lambda: ["roles", "groups"],
        description="Token claims naming the user's roles (a list or a space-separated string), mapped to scopes.",
    )
    auth_role_scopes: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ROLE_SCOPES),
        description='Role (or group) name -> scope it grants, e.g. {"PSP.Coordinators": "coordinator"}.',
    )

    @field_validator("auth_role_scopes")
    @classmethod
    def _known_scopes(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value.values()) - set(SCOPE_NAMES))
        if unknown:
            raise ValueError(f"roles may map only to the scopes {', '.join(SCOPE_NAMES)}")
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        if not value or any(a not in ASYMMETRIC_ALGORITHMS for a in value):
            raise ValueError(f"only asymmetric algorithms: {', '.join(ASYMMETRIC_ALGORITHMS)}")
        return value

    @property
    def expected_issuer(self) -> str:
        """The iss a token must carry: the OIDC issuer when one is configured."""
        return self.auth_oidc_issuer or self.auth_issuer
