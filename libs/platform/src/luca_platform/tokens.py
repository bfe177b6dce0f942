"""Turning a bearer token into a Principal: Cognito ID tokens and internal service-identity tokens.

The school of every request comes from here and nowhere else: a token is verified (signature,
issuer, audience, expiry, token use) before its ``custom:school_id`` is read.

* End users: Cognito ID tokens (RS256), verified against the user pool's JWKS (fetched once and
  cached; refetched only for an unknown ``kid``).
* Internal services: short-lived RS256 JWTs signed by a KMS asymmetric key that only service roles
  may use (``kms:Sign``); they name one school and act for that school only. See the grading
  service's README, "Internal callers".
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.serialization import load_der_public_key

from luca_kernel.access import Principal, Role
from luca_kernel.errors import Unauthenticated
from luca_kernel.ids import SchoolId, StudentId
from luca_platform.token_cache import VerifiedTokens

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

    from luca_platform.settings import TokenSettings

SERVICE_ISSUER = "luca-internal"
SERVICE_AUDIENCE = "luca-grading"
MAX_SERVICE_TOKEN_SECONDS = 900
_GROUP_ROLES = {"teachers": Role.TEACHER, "students": Role.STUDENT, "admins": Role.ADMIN}


class TokenKeysUnavailable(Unauthenticated):
    """The key set could not be fetched: the token may be good, so callers retry rather than cache a refusal."""


def bearer(value: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` value."""
    if not value:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization must be 'Bearer <token>'")
    return token.strip()


@dataclass(frozen=True, slots=True)
class CognitoSettings:
    region: str
    user_pool_id: str
    client_id: str
    school_claim: str = "custom:school_id"
    student_claim: str = "custom:student_id"
    # Locally the emulator serves the JWKS; in AWS it is derived from the issuer.
    jwks_url: str | None = None

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or f"{self.issuer}/.well-known/jwks.json"


class CognitoTokenVerifier:
    def __init__(
        self, settings: CognitoSettings, *, leeway_seconds: int = 30, jwks: jwt.PyJWKClient | None = None
    ) -> None:
        self._settings = settings
        self._leeway = leeway_seconds
        # PyJWKClient caches the key set and each signing key; it refetches only on an unknown kid.
        self._jwks = jwks or jwt.PyJWKClient(
            settings.resolved_jwks_url, cache_keys=True, lifespan=3600, timeout=5
        )

    def verify(self, token: str) -> Principal:
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                audience=self._settings.client_id,
                issuer=self._settings.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise TokenKeysUnavailable("token keys are unavailable; retry shortly") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        if claims.get("token_use") != "id":
            raise Unauthenticated("an ID token is required")
        school = claims.get(self._settings.school_claim)
        if not isinstance(school, str) or not school:
            raise Unauthenticated("token carries no school")
        groups = claims.get("cognito:groups") or []
        roles = frozenset(_GROUP_ROLES[g] for g in groups if g in _GROUP_ROLES)
        student = claims.get(self._settings.student_claim)
        return Principal(
            school_id=SchoolId(school),
            subject=str(claims["sub"]),
            roles=roles,
            student_id=StudentId(student) if isinstance(student, str) and student else None,
            username=str(claims.get("cognito:username", "")),
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ServiceTokenIssuer:
    """Mints service-identity tokens with a KMS key (the private key never leaves KMS)."""

    def __init__(self, *, kms: KMSClient, key_id: str, service: str, clock: Callable[[], float] = time.time):
        self._kms = kms
        self._key_id = key_id
        self._service = service
        self._clock = clock

    def token_for(self, school_id: str, *, lifetime_seconds: int = 300) -> str:
        now = int(self._clock())
        header = {"alg": "RS256", "typ": "JWT", "kid": self._key_id}
        claims = {
            "iss": SERVICE_ISSUER,
            "aud": SERVICE_AUDIENCE,
            "sub": f"service:{self._service}",
            "school_id": school_id,
            "token_use": "service",
            "iat": now,
            "exp": now + lifetime_seconds,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self._kms.sign(
            KeyId=self._key_id,
            Message=signing_input.encode(),
            MessageType="RAW",
            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
        )["Signature"]
        return f"{signing_input}.{_b64(signature)}"


class ServiceTokenVerifier:
    """Verifies service-identity tokens against the KMS key's public half (fetched once)."""

    def __init__(self, *, public_key_loader: Callable[[], bytes], leeway_seconds: int = 30) -> None:
        self._load = public_key_loader
        self._key: Any = None
        self._lock = threading.Lock()
        self._leeway = leeway_seconds

    @classmethod
    def from_kms(cls, kms: KMSClient, key_id: str) -> ServiceTokenVerifier:
        return cls(public_key_loader=lambda: kms.get_public_key(KeyId=key_id)["PublicKey"])

    def _public_key(self) -> Any:
        with self._lock:
            if self._key is None:
                self._key = load_der_public_key(self._load())
            return self._key

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._public_key(),
                algorithms=["RS256"],
                audience=SERVICE_AUDIENCE,
                issuer=SERVICE_ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid service token: {exc}") from exc
        if claims.get("token_use") != "service":
            raise Unauthenticated("not a service token")
        if int(claims["exp"]) - int(claims["iat"]) > MAX_SERVICE_TOKEN_SECONDS:
            raise Unauthenticated("service tokens may live at most 15 minutes")
        school = claims.get("school_id")
        if not isinstance(school, str) or not school:
            raise Unauthenticated("service token names no school")
        return Principal(
            school_id=SchoolId(school),
            subject=str(claims["sub"]),
            roles=frozenset({Role.SERVICE}),
            username=str(claims["sub"]),
        )


class Authenticator:
    """Routes a bearer token to the verifier of its issuer (read unverified, then verified)."""

    def __init__(
        self,
        *,
        users: CognitoTokenVerifier,
        services: ServiceTokenVerifier | None,
        verified: VerifiedTokens | None = None,
    ) -> None:
        self._users = users
        self._services = services
        self._verified = verified if verified is not None else VerifiedTokens()

    def cached(self, authorization: str | None) -> Principal | None:
        """The principal of a token verified before and not expired yet; None otherwise (no I/O, no
        signature check: cheap enough to run on an event loop)."""
        if not authorization:
            return None
        try:
            return self._verified.get(bearer(authorization))
        except Unauthenticated:
            return None

    def authenticate(self, authorization: str | None) -> Principal:
        token = bearer(authorization)
        known = self._verified.get(token)
        if known is not None:
            return known
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated("malformed token") from exc
        if unverified.get("iss") == SERVICE_ISSUER:
            if self._services is None:
                raise Unauthenticated("service tokens are not accepted here")
            principal = self._services.verify(token)
        else:
            principal = self._users.verify(token)
        # The verifier required ``exp`` and checked the signature over these very claims.
        self._verified.put(token, principal, float(unverified["exp"]))
        return principal


def authenticator_from_settings(settings: TokenSettings) -> Authenticator:
    """Who a service trusts: the user pool's ID tokens, and service tokens when a key is set."""
    users = CognitoTokenVerifier(
        CognitoSettings(
            region=settings.aws_region,
            user_pool_id=settings.user_pool_id,
            client_id=settings.user_pool_client_id,
            school_claim=settings.school_claim,
            student_claim=settings.student_claim,
            jwks_url=settings.jwks_url,
        )
    )
    services = None
    if settings.service_token_key_id:
        import boto3

        kms = boto3.client("kms", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        services = ServiceTokenVerifier.from_kms(kms, settings.service_token_key_id)
    return Authenticator(users=users, services=services)
