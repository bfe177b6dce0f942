"""The government path's settings, from the function's environment (prefix LUCA_). Plain reads:
the Lambda bundle stays small. Whoever deploys the functions sets them (the CDK app, the local
platform).

The ministry's client credentials are a secret: in AWS, ``LUCA_MINISTRY_SECRET_ARN`` names a Secrets
Manager secret holding ``{"client_id": ..., "client_secret": ...}``, read once per cold start
(Powertools parameters, cached); the local platform passes the simulator's credentials directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from luca_govsync.ministry import MAX_RECORDS_PER_BATCH


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
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None  # set only to reach an emulator
    tenant_role_arn: str | None = None  # per-school credentials; unset = the function's own role

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
        env = os.environ if environ is None else environ
        required = {
            name: env.get(f"LUCA_{name.upper()}", "")
            for name in ("table_name", "manifest_bucket", "ministry_url")
        }
        missing = [f"LUCA_{name.upper()}" for name, value in required.items() if not value]
        if missing:
            raise RuntimeError(f"not set: {', '.join(missing)}")
        return cls(
            **required,
            ministry_client_id=env.get("LUCA_MINISTRY_CLIENT_ID", ""),
            ministry_client_secret=env.get("LUCA_MINISTRY_CLIENT_SECRET", ""),
            ministry_secret_arn=env.get("LUCA_MINISTRY_SECRET_ARN", ""),
            batch_size=int(env.get("LUCA_GOVSYNC_BATCH_SIZE", "100")),
            ministry_timeout_seconds=float(env.get("LUCA_MINISTRY_TIMEOUT_SECONDS", "20")),
            aws_region=env.get("LUCA_AWS_REGION") or env.get("AWS_REGION") or "us-east-1",
            aws_endpoint_url=env.get("LUCA_AWS_ENDPOINT_URL") or None,
            tenant_role_arn=env.get("LUCA_TENANT_ROLE_ARN") or None,
        )


@dataclass(frozen=True, slots=True)
class StarterSettings:
    """The scheduled starter: which state machine, and where the list of schools to sync is kept
    (an SSM StringList parameter the onboarding of a school appends to)."""

    state_machine_arn: str
    schools_parameter: str
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StarterSettings:
        env = os.environ if environ is None else environ
        arn, parameter = env.get("LUCA_STATE_MACHINE_ARN", ""), env.get("LUCA_SCHOOLS_PARAMETER", "")
        if not arn or not parameter:
            raise RuntimeError("not set: LUCA_STATE_MACHINE_ARN and LUCA_SCHOOLS_PARAMETER")
        return cls(
            state_machine_arn=arn,
            schools_parameter=parameter,
            aws_region=env.get("LUCA_AWS_REGION") or env.get("AWS_REGION") or "us-east-1",
            aws_endpoint_url=env.get("LUCA_AWS_ENDPOINT_URL") or None,
        )


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The ``luca.govsync.v1`` gRPC API's container: who it trusts, where the sync's state is."""

    table_name: str
    state_machine_arn: str
    user_pool_id: str
    user_pool_client_id: str
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    tenant_role_arn: str | None = None
    jwks_url: str | None = None
    school_claim: str = "custom:school_id"
    student_claim: str = "custom:student_id"
    service_token_key_id: str | None = None
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50052
    grpc_workers: int = 8
    ready_file: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if environ is None else environ
        names = ("table_name", "state_machine_arn", "user_pool_id", "user_pool_client_id")
        required = {name: env.get(f"LUCA_{name.upper()}", "") for name in names}
        missing = [f"LUCA_{name.upper()}" for name, value in required.items() if not value]
        if missing:
            raise RuntimeError(f"not set: {', '.join(missing)}")
        return cls(
            **required,
            aws_region=env.get("LUCA_AWS_REGION") or env.get("AWS_REGION") or "us-east-1",
            aws_endpoint_url=env.get("LUCA_AWS_ENDPOINT_URL") or None,
            tenant_role_arn=env.get("LUCA_TENANT_ROLE_ARN") or None,
            jwks_url=env.get("LUCA_JWKS_URL") or None,
            school_claim=env.get("LUCA_SCHOOL_CLAIM", "custom:school_id"),
            student_claim=env.get("LUCA_STUDENT_CLAIM", "custom:student_id"),
            service_token_key_id=env.get("LUCA_SERVICE_TOKEN_KEY_ID") or None,
            grpc_host=env.get("LUCA_GRPC_HOST", "127.0.0.1"),
            grpc_port=int(env.get("LUCA_GRPC_PORT", "50052")),
            grpc_workers=int(env.get("LUCA_GRPC_WORKERS", "8")),
            ready_file=env.get("LUCA_READY_FILE") or None,
        )
