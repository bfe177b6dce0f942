"""Real RS256 ID tokens for tests: a key pair that signs Cognito-shaped tokens, and a key-set client
that serves its public half without HTTP (and counts how often the verifier asked)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from luca_platform.tokens import CognitoSettings
from luca_testing.emulator import REGION

POOL_ID = f"{REGION}_TestPool1"
CLIENT_ID = "test-app-client"


class StaticJWKClient(jwt.PyJWKClient):
    """A JWKS client whose key set is given, counting fetches (the real one fetches over HTTP)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__("http://127.0.0.1:9/unused", cache_keys=True)
        self._jwks = jwks
        self.fetches = 0

    def fetch_data(self) -> Any:
        self.fetches += 1
        return self._jwks


@dataclass
class TokenMint:
    """Signs Cognito-shaped ID tokens with a test key pair (same claims Cognito puts in them)."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = "test-key-1"

    @property
    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [public]}

    def token(
        self,
        school: str | None,
        groups: list[str],
        *,
        username: str = "someone",
        student_id: str | None = None,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(uuid.uuid5(uuid.NAMESPACE_DNS, username)),
            "iss": CognitoSettings(REGION, POOL_ID, CLIENT_ID).issuer,
            "aud": CLIENT_ID,
            "token_use": "id",
            "iat": now,
            "exp": now + 3600,
            "cognito:username": username,
            "cognito:groups": groups,
        }
        if school is not None:
            claims["custom:school_id"] = school
        if student_id:
            claims["custom:student_id"] = student_id
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
