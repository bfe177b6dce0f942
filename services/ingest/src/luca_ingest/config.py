"""The grade processor's settings, from the function's environment (prefix LUCA_).

Plain environment reads, no settings framework: the Lambda bundle stays small and pure Python.
Resource names are set by whoever deploys the function (the CDK app, the local platform).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from luca_platform.settings import aws_from_environment


@dataclass(frozen=True, slots=True)
class IngestSettings:
    table_name: str
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None  # set only to reach an emulator
    tenant_role_arn: str | None = None  # per-school credentials; unset = the function's own role
    tenant_session_seconds: int = 3600
    tenant_refresh_margin_seconds: int = 300
    # The batch role: one session per batch, narrowed to the batch's schools by a session policy.
    batch_role_arn: str | None = None
    rule_cache_ttl_seconds: float = 60.0
    metrics_namespace: str = "Luca/Platform"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> IngestSettings:
        env = os.environ if environ is None else environ
        table = env.get("LUCA_TABLE_NAME")
        if not table:
            raise RuntimeError("LUCA_TABLE_NAME is not set")
        return cls(
            table_name=table,
            **aws_from_environment(env),
            batch_role_arn=env.get("LUCA_BATCH_ROLE_ARN") or None,
            rule_cache_ttl_seconds=float(env.get("LUCA_RULE_CACHE_TTL_SECONDS", "60")),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "Luca/Platform"),
        )
