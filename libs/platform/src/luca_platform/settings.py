"""What every service reads from its environment the same way (prefix ``LUCA_``).

Services keep one typed settings object each; the settings every one of them shares (the AWS
endpoint and region, per-school sessions, token verification) are read here once, with one set of
defaults, so a Lambda, a container and the local platform configure them identically. Plain
environment reads: the Lambda bundles stay small and pure Python.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

DEFAULT_REGION = "us-east-1"
DEFAULT_SESSION_SECONDS = 3600
DEFAULT_REFRESH_MARGIN_SECONDS = 300
DEFAULT_SCHOOL_CLAIM = "custom:school_id"
DEFAULT_STUDENT_CLAIM = "custom:student_id"


class AwsSettings(Protocol):
    """Where AWS is and how a service acts for one school (``AwsClients.from_settings``)."""

    @property
    def aws_region(self) -> str: ...
    @property
    def aws_endpoint_url(self) -> str | None: ...
    @property
    def tenant_role_arn(self) -> str | None: ...
    @property
    def tenant_session_seconds(self) -> int: ...
    @property
    def tenant_refresh_margin_seconds(self) -> int: ...


class TokenSettings(Protocol):
    """Whose tokens a service trusts (``Authenticator.from_settings``)."""

    @property
    def aws_region(self) -> str: ...
    @property
    def aws_endpoint_url(self) -> str | None: ...
    @property
    def user_pool_id(self) -> str: ...
    @property
    def user_pool_client_id(self) -> str: ...
    @property
    def jwks_url(self) -> str | None: ...
    @property
    def school_claim(self) -> str: ...
    @property
    def student_claim(self) -> str: ...
    @property
    def service_token_key_id(self) -> str | None: ...


def environment(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def required(env: Mapping[str, str], *names: str) -> dict[str, Any]:
    """``LUCA_<NAME>`` for each name, failing fast with every missing variable named."""
    values: dict[str, Any] = {name: env.get(f"LUCA_{name.upper()}", "") for name in names}
    missing = [f"LUCA_{name.upper()}" for name, value in values.items() if not value]
    if missing:
        raise RuntimeError(f"not set: {', '.join(missing)}")
    return values


def aws_from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The fields of ``AwsSettings`` from the environment."""
    return {
        "aws_region": env.get("LUCA_AWS_REGION") or env.get("AWS_REGION") or DEFAULT_REGION,
        # Set only to reach an emulator; unset in AWS.
        "aws_endpoint_url": env.get("LUCA_AWS_ENDPOINT_URL") or None,
        # Per-school credentials: the role assumed with session tag school_id. Unset = own identity.
        "tenant_role_arn": env.get("LUCA_TENANT_ROLE_ARN") or None,
        "tenant_session_seconds": int(env.get("LUCA_TENANT_SESSION_SECONDS") or DEFAULT_SESSION_SECONDS),
        "tenant_refresh_margin_seconds": int(
            env.get("LUCA_TENANT_REFRESH_MARGIN_SECONDS") or DEFAULT_REFRESH_MARGIN_SECONDS
        ),
    }


def tokens_from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The optional fields of ``TokenSettings`` (the user pool's ids are the service's ``required``)."""
    return {
        # Locally the emulator's JWKS; in AWS derived from the pool's issuer.
        "jwks_url": env.get("LUCA_JWKS_URL") or None,
        "school_claim": env.get("LUCA_SCHOOL_CLAIM") or DEFAULT_SCHOOL_CLAIM,
        "student_claim": env.get("LUCA_STUDENT_CLAIM") or DEFAULT_STUDENT_CLAIM,
        # The KMS key that signs internal service-identity tokens; unset = service tokens refused.
        "service_token_key_id": env.get("LUCA_SERVICE_TOKEN_KEY_ID") or None,
    }
