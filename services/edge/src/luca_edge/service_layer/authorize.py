"""Turning a request's bearer token into a grant, or refusing it.

The token is verified by the services' own verifier (``luca_platform.tokens``): the same signature,
issuer, audience, expiry and token-use checks, so the edge refuses exactly the tokens a service
would. The school comes from the verified token only; its usage key is derived from the school
(no lookup), so an authorizer invocation makes no call but the key set's (cached per instance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from luca_edge.domain.grant import Grant
from luca_kernel.access import Principal


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal: ...


class Authorizer:
    def __init__(self, verifier: TokenVerifier, usage_key: Callable[[str], str]) -> None:
        self._verifier = verifier
        self._usage_key = usage_key

    def grant(self, token: str) -> Grant:
        """Raises ``Unauthenticated`` for a token a service would refuse (the entrypoints have taken it
        out of the ``Authorization`` header with ``luca_platform.tokens.bearer``)."""
        principal = self._verifier.verify(token)
        return Grant(principal=principal, usage_key=self._usage_key(str(principal.school_id)))
