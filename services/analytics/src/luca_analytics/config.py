"""The query service's settings, from its environment (prefix ``LUCA_``), checked at start.

Whoever deploys it sets them (the CDK app, the local platform). The pseudonymisation key is the
same one the pipeline hashes students with (``LUCA_PSEUDONYM_KEY``): without it the service could
not re-identify a school's students, so it refuses to start. In AWS, ECS injects it from the
analytics stack's secret (a task-definition ``secrets`` entry), so reading it here needs no AWS call.

The lake is exactly one of: a bucket read with DuckDB (``LUCA_LAKE_BUCKET``), a local directory
(``LUCA_LAKE_DIRECTORY``, tools and tests), or Athena (``LUCA_ATHENA_WORKGROUP``,
``LUCA_ATHENA_DATABASE`` and ``LUCA_ATHENA_TABLE`` together: the workgroup and the Glue table the
LucaAnalytics stack creates), which is what the service uses in AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from luca_analytics.adapters.athena_lake import DEFAULT_TIMEOUT_SECONDS
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
class AnalyticsSettings:
    table_name: str
    user_pool_id: str
    user_pool_client_id: str
    pseudonym_key: bytes = field(repr=False)
    lake_bucket: str = ""  # the lake in S3 ...
    lake_directory: str = ""  # ... or in a local directory (tools and tests)
    athena_workgroup: str = ""  # ... or queried with Athena, in this workgroup,
    athena_database: str = ""  # over this Glue database's
    athena_table: str = ""  # table (partition projection)
    athena_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS  # a query still running then is stopped
    aws_region: str = DEFAULT_REGION
    aws_endpoint_url: str | None = None  # set only to reach an emulator
    tenant_role_arn: str | None = None  # per-school sessions; unset = the task's own role
    tenant_session_seconds: int = DEFAULT_SESSION_SECONDS
    tenant_refresh_margin_seconds: int = DEFAULT_REFRESH_MARGIN_SECONDS
    jwks_url: str | None = None
    school_claim: str = DEFAULT_SCHOOL_CLAIM
    student_claim: str = DEFAULT_STUDENT_CLAIM
    service_token_key_id: str | None = None
    rule_cache_seconds: float = 60.0
    duckdb_threads: int = 2
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50053
    grpc_workers: int = 8

    def __post_init__(self) -> None:
        if not self.pseudonym_key:
            raise RuntimeError("not set: LUCA_PSEUDONYM_KEY")
        athena = {
            "LUCA_ATHENA_WORKGROUP": self.athena_workgroup,
            "LUCA_ATHENA_DATABASE": self.athena_database,
            "LUCA_ATHENA_TABLE": self.athena_table,
        }
        if any(athena.values()) and not all(athena.values()):
            missing = [name for name, value in athena.items() if not value]
            raise RuntimeError(
                f"Athena needs all three of {', '.join(athena)}; not set: {', '.join(missing)}"
            )
        if sum(map(bool, (self.lake_bucket, self.lake_directory, self.athena_workgroup))) != 1:
            raise RuntimeError(
                "set exactly one of LUCA_LAKE_BUCKET, LUCA_LAKE_DIRECTORY and LUCA_ATHENA_WORKGROUP "
                "(with LUCA_ATHENA_DATABASE and LUCA_ATHENA_TABLE)"
            )
        if not 0 < self.athena_timeout_seconds <= 600:
            raise RuntimeError("LUCA_ATHENA_TIMEOUT_SECONDS must be more than 0 and at most 600")
        if not 1 <= self.duckdb_threads <= 64:
            raise RuntimeError("LUCA_ANALYTICS_DUCKDB_THREADS must be 1 to 64")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AnalyticsSettings:
        env = environment(environ)
        return cls(
            **required(env, "table_name", "user_pool_id", "user_pool_client_id"),
            **aws_from_environment(env),
            **tokens_from_environment(env),
            pseudonym_key=env.get("LUCA_PSEUDONYM_KEY", "").encode(),
            lake_bucket=env.get("LUCA_LAKE_BUCKET", ""),
            lake_directory=env.get("LUCA_LAKE_DIRECTORY", ""),
            athena_workgroup=env.get("LUCA_ATHENA_WORKGROUP", ""),
            athena_database=env.get("LUCA_ATHENA_DATABASE", ""),
            athena_table=env.get("LUCA_ATHENA_TABLE", ""),
            athena_timeout_seconds=float(env.get("LUCA_ATHENA_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS),
            rule_cache_seconds=float(env.get("LUCA_RULE_CACHE_SECONDS", "60")),
            duckdb_threads=int(env.get("LUCA_ANALYTICS_DUCKDB_THREADS", "2")),
            grpc_host=env.get("LUCA_GRPC_HOST", "127.0.0.1"),
            grpc_port=int(env.get("LUCA_GRPC_PORT", "50053")),
            grpc_workers=int(env.get("LUCA_GRPC_WORKERS", "8")),
        )
