"""The composition root: settings in, a ready grade processor out. Nothing else builds adapters."""

from __future__ import annotations

from dataclasses import dataclass

from luca_ingest.adapters.contract import decode_event
from luca_ingest.adapters.dynamodb_store import DynamoEventStore
from luca_ingest.adapters.rules import BatchRules
from luca_ingest.config import IngestSettings
from luca_ingest.service_layer.processor import GradeProcessor
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients


@dataclass(frozen=True, slots=True)
class IngestApp:
    settings: IngestSettings
    clients: AwsClients
    store: DynamoEventStore
    processor: GradeProcessor


def build(settings: IngestSettings, clients: AwsClients | None = None) -> IngestApp:
    clients = clients or AwsClients.from_settings(settings, batch_role_arn=settings.batch_role_arn)
    store = DynamoEventStore(clients, settings.table_name)
    rules = BatchRules(RuleCache(ttl_seconds=settings.rule_cache_ttl_seconds), store.stored_rule)
    return IngestApp(settings, clients, store, GradeProcessor(store, rules, decode_event))
