"""The government path's settings, from the function's environment (prefix LUCA_). Plain reads:
the Lambda bundle stays small. Whoever deploys the functions sets them (the CDK app, the local
platform).

The ministry's client credentials are a secret: in AWS, ``LUCA_MINISTRY_SECRET_ARN`` names a Secrets
Manager secret holding ``{"client_id": ..., "client_secret": ...}``, read once per cold start
(Powertools parameters, cached); the local platform passes the simulator's credentials directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from luca_govsync.ministry import MAX_RECORDS_PER_BATCH
from luca_platform.settings import (
    DEFAULT_REFRESH_MARGIN_SECONDS,
    DEFAULT_REGION,
    DEFAULT_SCHOOL_CLAIM,
    DEFAULT_SESSION_SECONDS,
    DEFAULT_STUDENT_CLAIM,
    aws_from_environment,
    environment,
    required,
    tokens_from_environment,
)


@dataclass(frozen=True, slots=True)
class GovSyncSettings:
    table_name: str
    manifest_bucket: str
    ministry_url: str
    ministry_client_id: str = ""
    ministry_client_secret: str = field(default="", repr=False)
    ministry_secret_arn: str = ""
    batch_size: int = 100
    ministry_timeout_seconds: float = 20.0
    aws_region: str = DEFAULT_REGION
    aws_endpoint_url: str | None = None  # set only to reach an emulator
    tenant_role_arn: str | None = None  # per-school credentials; unset = the function's own role
    tenant_session_seconds: int = DEFAULT_SESSION_SECONDS
    tenant_refresh_margin_seconds: int = DEFAULT_REFRESH_MARGIN_SECONDS

    def __post_init__(self) -> None:
        if not self.ministry_secret_arn and not (self.ministry_client_id and self.ministry_client_secret):
            raise RuntimeError(
                "the ministry's credentials: set LUCA_MINISTRY_SECRET_ARN (or the id and secret)"
            )
        if not 1 <= self.batch_size <= MAX_RECORDS_PER_BATCH:
            raise RuntimeError(
                f"LUCA_GOVSYNC_BATCH_SIZE must be 1 to {MAX_RECORDS_PER_BATCH} (the ministry's limit)"
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> GovSyncSettings:
        env = environment(environ)
        return cls(
            **required(env, "table_name", "manifest_bucket", "ministry_url"),
            ministry_client_id=env.get("LUCA_MINISTRY_CLIENT_ID", ""),
            ministry_client_secret=env.get("LUCA_MINISTRY_CLIENT_SECRET", ""),
            ministry_secret_arn=env.get("LUCA_MINISTRY_SECRET_ARN", ""),
            batch_size=int(env.get("LUCA_GOVSYNC_BATCH_SIZE", "100")),
            ministry_timeout_seconds=float(env.get("LUCA_MINISTRY_TIMEOUT_SECONDS", "20")),
            **aws_from_environment(env),
        )


@dataclass(frozen=True, slots=True)
class StarterSettings:
    """The scheduled starter: which state machine, where the list of schools to sync is kept (an
    SSM StringList parameter the onboarding of a school appends to), and the table it reads each
    school's term and sync state from, as that school (the tenant role)."""

    state_machine_arn: str
    schools_parameter: str
    table_name: str
    aws_region: str = DEFAULT_REGION
    aws_endpoint_url: str | None = None
    tenant_role_arn: str | None = None
    tenant_session_seconds: int = DEFAULT_SESSION_SECONDS
    tenant_refresh_margin_seconds: int = DEFAULT_REFRESH_MARGIN_SECONDS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StarterSettings:
        env = environment(environ)
        return cls(
            **required(env, "state_machine_arn", "schools_parameter", "table_name"),
            **aws_from_environment(env),
        )


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The ``luca.govsync.v1`` gRPC API's container: who it trusts, where the sync's state is."""

    table_name: str
    state_machine_arn: str
    user_pool_id: str
    user_pool_client_id: str
    aws_region: str = DEFAULT_REGION
    aws_endpoint_url: str | None = None
    tenant_role_arn: str | None = None
    tenant_session_seconds: int = DEFAULT_SESSION_SECONDS
    tenant_refresh_margin_seconds: int = DEFAULT_REFRESH_MARGIN_SECONDS
    jwks_url: str | None = None
    school_claim: str = DEFAULT_SCHOOL_CLAIM
    student_claim: str = DEFAULT_STUDENT_CLAIM
    service_token_key_id: str | None = None
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50052
    grpc_workers: int = 8
    ready_file: str | None = None
    # The sync's DLQ (LUCA_DLQ_URL): ListDeadLetters and RedriveDeadLetters answer UNAVAILABLE without it.
    dlq_url: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = environment(environ)
        return cls(
            **required(env, "table_name", "state_machine_arn", "user_pool_id", "user_pool_client_id"),
            **aws_from_environment(env),
            **tokens_from_environment(env),
            grpc_host=env.get("LUCA_GRPC_HOST", "127.0.0.1"),
            grpc_port=int(env.get("LUCA_GRPC_PORT", "50052")),
            grpc_workers=int(env.get("LUCA_GRPC_WORKERS", "8")),
            ready_file=env.get("LUCA_READY_FILE") or None,
            dlq_url=env.get("LUCA_DLQ_URL", ""),
        )


@dataclass(frozen=True, slots=True)
class OperationsSettings:
    """Operators' tools: which state machine, the table its progress is kept in, and its DLQ."""

    table_name: str
    state_machine_arn: str
    aws_region: str = DEFAULT_REGION
    aws_endpoint_url: str | None = None
    tenant_role_arn: str | None = None
    tenant_session_seconds: int = DEFAULT_SESSION_SECONDS
    tenant_refresh_margin_seconds: int = DEFAULT_REFRESH_MARGIN_SECONDS
    dlq_url: str = ""  # empty: the tools read and redrive no DLQ through these operations

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> OperationsSettings:
        env = environment(environ)
        return cls(
            **required(env, "table_name", "state_machine_arn"),
            **aws_from_environment(env),
            dlq_url=env.get("LUCA_DLQ_URL", ""),
        )
