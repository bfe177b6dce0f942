"""Helpers for tests that run the grading service against the embedded emulator with real JWTs."""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from luca_grading.bootstrap import Container, bootstrap
from luca_grading.config import GradingSettings
from luca_platform.aws import AwsClients
from luca_platform.tokens import (
    Authenticator,
    CognitoSettings,
    CognitoTokenVerifier,
    ServiceTokenIssuer,
    ServiceTokenVerifier,
)
from luca_testing.emulator import REGION, create_table, tenant_role

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


@dataclass
class EmulatedGrading:
    container: Container
    mint: TokenMint
    jwks: StaticJWKClient
    clients: AwsClients
    table_name: str
    endpoint: str
    service_tokens: ServiceTokenIssuer
    metrics: io.StringIO

    def bearer(self, school: str, role: str, **kwargs: Any) -> dict[str, str]:
        groups = {"teacher": ["teachers"], "student": ["students"], "admin": ["admins"]}[role]
        token = self.mint.token(school, groups, username=f"{role}-{school}", **kwargs)
        return {"Authorization": f"Bearer {token}"}

    def table_items(self) -> list[dict[str, Any]]:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=self.endpoint)
        return client.scan(TableName=self.table_name)["Items"]


def build(endpoint: str, *, scoped: bool = True) -> EmulatedGrading:
    table = f"grading-test-{uuid.uuid4().hex[:8]}"
    create_table(endpoint, table)
    kms = boto3.client("kms", region_name=REGION, endpoint_url=endpoint)
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    settings = GradingSettings(
        table_name=table,
        user_pool_id=POOL_ID,
        user_pool_client_id=CLIENT_ID,
        aws_region=REGION,
        aws_endpoint_url=endpoint,
        tenant_role_arn=tenant_role(endpoint) if scoped else None,
        service_token_key_id=key_id,
        rest_port=0,
        grpc_port=0,
        cursor_keys="emulated-grading-cursor-key-0123456789",
    )
    clients = AwsClients(region=REGION, endpoint_url=endpoint, tenant_role_arn=settings.tenant_role_arn)
    mint = TokenMint()
    jwks = StaticJWKClient(mint.jwks)
    authenticator = Authenticator(
        users=CognitoTokenVerifier(CognitoSettings(REGION, POOL_ID, CLIENT_ID), jwks=jwks),
        services=ServiceTokenVerifier.from_kms(kms, key_id),
    )
    metrics = io.StringIO()
    container = bootstrap(settings, clients=clients, authenticator=authenticator, metrics_sink=metrics)
    issuer = ServiceTokenIssuer(kms=kms, key_id=key_id, service="test-tool")
    return EmulatedGrading(container, mint, jwks, clients, table, endpoint, issuer, metrics)


def seed_roster(grading: EmulatedGrading, school: str, students: dict[str, str]) -> None:
    """Course 1A, subjects math and history, terms 2026-T1 and 2025-T1, the given students (id ->
    name), and the school's demo teacher (``teacher-<school>``, what ``bearer`` mints) assigned to both
    subjects: as the school admin."""
    from luca_kernel.access import Principal, Role
    from luca_kernel.ids import SchoolId

    admin = Principal(SchoolId(school), subject="seed-admin", roles=frozenset({Role.ADMIN}))
    administration = grading.container.admin
    administration.put_course(admin, "1A", "First A")
    administration.put_subject(admin, "math", "Mathematics")
    administration.put_subject(admin, "history", "History")
    for term in ("2026-T1", "2025-T1"):
        administration.put_term(admin, term, f"Term {term}")
    for subject in ("math", "history"):
        administration.assign(admin, f"teacher-{school}", "1A", subject)
    for student_id, name in students.items():
        administration.put_student(admin, student_id, "1A", name)
