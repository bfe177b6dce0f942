"""The composition root: settings in, a ready grade processor out. Nothing else builds adapters."""

from __future__ import annotations

from dataclasses import dataclass

from luca_grading.adapters.aws_clients import AwsClients
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory
from luca_grading.service_layer.rule_cache import RuleCache
from luca_ingest.adapters.contract import decode_event
from luca_ingest.adapters.dynamodb_store import DynamoEventStore
from luca_ingest.adapters.rules import CachedRules
from luca_ingest.config import IngestSettings
from luca_ingest.service_layer.processor import GradeProcessor


@dataclass(frozen=True, slots=True)
class IngestApp:
    settings: IngestSettings
    clients: AwsClients
    store: DynamoEventStore
    processor: GradeProcessor


def build(settings: IngestSettings, clients: AwsClients | None = None) -> IngestApp:
    clients = clients or AwsClients(
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        tenant_role_arn=settings.tenant_role_arn,
        session_seconds=settings.tenant_session_seconds,
        refresh_margin_seconds=settings.tenant_refresh_margin_seconds,
    )
    store = DynamoEventStore(clients, settings.table_name)
    rules = CachedRules(
        DynamoRepositoryFactory(clients=clients, table_name=settings.table_name),
        RuleCache(ttl_seconds=settings.rule_cache_ttl_seconds),
    )
    return IngestApp(settings, clients, store, GradeProcessor(store, rules, decode_event))
