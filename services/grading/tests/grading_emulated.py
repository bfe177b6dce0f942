"""Helpers for tests that run the grading service against the embedded emulator with real JWTs."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

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
from luca_testing.tokens import CLIENT_ID, POOL_ID, StaticJWKClient, TokenMint

__all__ = ["CLIENT_ID", "POOL_ID", "EmulatedGrading", "StaticJWKClient", "TokenMint", "build"]


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
