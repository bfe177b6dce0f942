"""The authorizer's settings, from the function's environment (prefix LUCA_).

Plain environment reads: the function stays small. The CDK app (and the local platform) set them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from luca_platform.settings import environment, required


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    aws_region: str
    user_pool_id: str
    user_pool_client_id: str
    school_claim: str = "custom:school_id"
    student_claim: str = "custom:student_id"
    # Only to reach an emulator's key set; in AWS it follows from the pool's issuer.
    jwks_url: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> EdgeSettings:
        env = environment(environ)
        values = required(env, "user_pool_id", "user_pool_client_id")
        region = env.get("LUCA_AWS_REGION") or env.get("AWS_REGION") or ""
        if not region:
            raise RuntimeError("not set: LUCA_AWS_REGION (or the runtime's AWS_REGION)")
        return cls(
            aws_region=region,
            school_claim=env.get("LUCA_SCHOOL_CLAIM", "custom:school_id"),
            student_claim=env.get("LUCA_STUDENT_CLAIM", "custom:student_id"),
            jwks_url=env.get("LUCA_JWKS_URL") or None,
            **values,
        )
