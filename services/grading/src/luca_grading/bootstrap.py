"""The composition root: the one place that builds the grading service's object graph.

Real adapters by default; tests pass fakes (or an emulator-backed AwsClients) as parameters.
Nothing here runs at import time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from luca_grading.adapters.dynamodb_listings import DynamoRosterReaders
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_grading.config import GradingSettings
from luca_grading.service_layer.administration import SchoolAdministration
from luca_grading.service_layer.assignment_cache import AssignmentCache
from luca_grading.service_layer.changes import GradeChanges
from luca_grading.service_layer.listings import RosterListings, RosterReaders
from luca_grading.service_layer.ports import Clock, IdGenerator, RepositoryFactory
from luca_grading.service_layer.roster_cache import RosterCache
from luca_grading.service_layer.services import GradingService
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.pagination import keys_from_setting
from luca_platform.telemetry.metrics import RequestMetrics
from luca_platform.tokens import Authenticator, authenticator_from_settings


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
    changes: GradeChanges
    admin: SchoolAdministration
    listings: RosterListings
    authenticator: Authenticator
    metrics: RequestMetrics
    rules: RuleCache
    clients: AwsClients | None


def bootstrap(
    settings: GradingSettings | None = None,
    *,
    clients: AwsClients | None = None,
    repositories: RepositoryFactory | None = None,
    readers: RosterReaders | None = None,
    authenticator: Authenticator | None = None,
    metrics_sink: TextIO | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
) -> Container:
    settings = settings or GradingSettings()  # type: ignore[call-arg]  # fields come from the environment
    if repositories is None or readers is None:
        clients = clients or AwsClients.from_settings(settings)
        repositories = repositories or DynamoRepositoryFactory(
            clients=clients, table_name=settings.table_name
        )
        readers = readers or DynamoRosterReaders(clients=clients, table_name=settings.table_name)
    if authenticator is None:
        authenticator = authenticator_from_settings(settings)
    rules = RuleCache(ttl_seconds=settings.rule_cache_ttl_seconds)
    clock = clock or SystemClock()
    assignments = AssignmentCache(ttl_seconds=settings.assignment_cache_ttl_seconds)
    roster = RosterCache(ttl_seconds=settings.roster_cache_ttl_seconds)
    service = GradingService(
        repositories=repositories,
        rules=rules,
        clock=clock,
        ids=ids or UuidIds(),
        assignments=assignments,
        roster=roster,
        legacy_idempotency_guard=settings.legacy_idempotency_guard,
    )
    metrics = RequestMetrics(
        namespace=settings.metrics_namespace, service=settings.service_name, sink=metrics_sink
    )
    return Container(
        settings=settings,
        service=service,
        changes=GradeChanges(
            repositories=repositories, rules=rules, clock=clock, assignments=assignments, roster=roster
        ),
        admin=SchoolAdministration(
            repositories=repositories, clock=clock, assignments=assignments, roster=roster
        ),
        listings=RosterListings(readers=readers, cursor_keys=keys_from_setting(settings.cursor_keys)),
        authenticator=authenticator,
        metrics=metrics,
        rules=rules,
        clients=clients,
    )
