"""The composition root: settings in, a ready authorizer out. The Lambda and the local gateway both
build it here."""

from __future__ import annotations

from luca_edge.config import EdgeSettings
from luca_edge.service_layer.authorize import Authorizer, TokenVerifier
from luca_platform.school_keys import api_key_value
from luca_platform.tokens import CognitoSettings, CognitoTokenVerifier


def build(settings: EdgeSettings, *, verifier: TokenVerifier | None = None) -> Authorizer:
    """``verifier``: the gateway's own when it has one (tests pass a verifier with a static key set)."""
    if verifier is None:
        verifier = CognitoTokenVerifier(
            CognitoSettings(
                region=settings.aws_region,
                user_pool_id=settings.user_pool_id,
                client_id=settings.user_pool_client_id,
                school_claim=settings.school_claim,
                student_claim=settings.student_claim,
                jwks_url=settings.jwks_url,
            )
        )
    return with_verifier(verifier)


def with_verifier(verifier: TokenVerifier) -> Authorizer:
    """The authorizer around a verifier already built (the local gateway's, with its key set)."""
    return Authorizer(verifier, api_key_value)
