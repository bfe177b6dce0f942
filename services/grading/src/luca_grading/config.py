"""The grading service's settings: one typed object, read from the environment (prefix LUCA_).

Resource names are injected by whoever deploys the service (the CDK app's task definition, the
local platform); none is spelled here. Missing required settings fail at start-up, not mid-request.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GradingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LUCA_", extra="ignore", frozen=True)

    service_name: str = "grading"
    aws_region: str = "us-east-1"
    # Set only to reach an emulator; unset in AWS.
    aws_endpoint_url: str | None = None

    table_name: str
    user_pool_id: str
    user_pool_client_id: str
    # Locally the emulator's JWKS; in AWS derived from the pool's issuer.
    jwks_url: str | None = None
    school_claim: str = "custom:school_id"
    student_claim: str = "custom:student_id"

    # Per-school credentials: the role assumed with session tag school_id. Unset = own identity.
    tenant_role_arn: str | None = None
    tenant_session_seconds: int = 3600
    tenant_refresh_margin_seconds: int = 300

    # HMAC keys of the listings' page cursors, comma-separated: the first signs, any verifies (so a
    # key rotates with an overlap). A secret: an ECS secret in AWS, a fresh key per run locally.
    cursor_keys: str = Field(min_length=32, repr=False)

    # KMS key that signs internal service-identity tokens; unset = service tokens refused.
    service_token_key_id: str | None = None

    rule_cache_ttl_seconds: float = Field(default=60.0, gt=0, le=3600)
    # How long a task may keep serving a teacher's assignments after another task removed one (a
    # missing assignment is always looked up again); 0 turns the cache off.
    assignment_cache_ttl_seconds: float = Field(default=15.0, ge=0, le=300)
    # How long a task may accept a grade on a roster, term or subject read before another task
    # changed it (refusals are always looked up again; see service_layer/roster_cache.py).
    roster_cache_ttl_seconds: float = Field(default=60.0, ge=0, le=3600)
    # Answer a recording retry from the idempotency record the previous version (0.2) wrote; set
    # LUCA_LEGACY_IDEMPOTENCY_GUARD=false once every task runs 0.3 or later (it costs one read per grade).
    legacy_idempotency_guard: bool = True
    max_body_bytes: int = Field(default=16 * 1024, gt=0)

    rest_host: str = "127.0.0.1"
    rest_port: int = 8080
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    grpc_workers: int = 16

    log_level: str = "INFO"
    # Where traces go: "none", "file" (JSON lines at otel_file_path), "otlp" (ADOT collector / X-Ray).
    otel_exporter: Literal["none", "file", "otlp", "console"] = "none"
    otel_file_path: str = ".luca/traces.jsonl"
    metrics_namespace: str = "Luca/Platform"
    # EMF lines go to stdout in AWS (the log driver ships them); locally they may go to a file.
    metrics_file_path: str | None = None
    # Set by a supervisor (the local platform): once both servers accept requests the process writes
    # {"pid", "rest_port", "grpc_port"} here, which is how port 0 becomes a known port. Unset in AWS.
    ready_file: str | None = None
