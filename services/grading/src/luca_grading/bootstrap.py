"""The composition root: the one place that builds the grading service's object graph.

Real adapters by default; tests pass fakes (or an emulator-backed AwsClients) as parameters.
Nothing here runs at import time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from luca_grading.adapters.aws_clients import AwsClients
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_grading.adapters.tokens import (
    Authenticator,
    CognitoSettings,
    CognitoTokenVerifier,
    ServiceTokenVerifier,
)
from luca_grading.config import GradingSettings
from luca_grading.service_layer.ports import Clock, IdGenerator, RepositoryFactory
from luca_grading.service_layer.rule_cache import RuleCache
from luca_grading.service_layer.services import GradingService
from luca_grading.telemetry.metrics import RequestMetrics


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class UuidIds:
    def new_id(self) -> str:
        return uuid.uuid4().hex


@dataclass
class Container:
    settings: GradingSettings
    service: GradingService
    authenticator: Authenticator
    metrics: RequestMetrics
    rules: RuleCache
    clients: AwsClients | None


def bootstrap(
    settings: GradingSettings | None = None,
    *,
    clients: AwsClients | None = None,
    repositories: RepositoryFactory | None = None,
    authenticator: Authenticator | None = None,
    metrics_sink: TextIO | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
) -> Container:
    settings = settings or GradingSettings()  # type: ignore[call-arg]  # fields come from the environment
    if repositories is None:
        clients = clients or AwsClients(
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            tenant_role_arn=settings.tenant_role_arn,
            session_seconds=settings.tenant_session_seconds,
            refresh_margin_seconds=settings.tenant_refresh_margin_seconds,
        )
        repositories = DynamoRepositoryFactory(clients=clients, table_name=settings.table_name)
    if authenticator is None:
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
        authenticator = Authenticator(users=users, services=services)
    rules = RuleCache(ttl_seconds=settings.rule_cache_ttl_seconds)
    service = GradingService(
        repositories=repositories, rules=rules, clock=clock or SystemClock(), ids=ids or UuidIds()
    )
    metrics = RequestMetrics(
        namespace=settings.metrics_namespace, service=settings.service_name, sink=metrics_sink
    )
    return Container(
        settings=settings,
        service=service,
        authenticator=authenticator,
        metrics=metrics,
        rules=rules,
        clients=clients,
    )
