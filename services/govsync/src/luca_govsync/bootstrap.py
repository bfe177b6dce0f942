"""The Lambda functions' composition root: settings in, the sync's tasks (or the scheduled starter)
out. Pure Python, as the bundle requires; the gRPC API container has its own (``bootstrap_api``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import boto3
from aws_lambda_powertools.utilities import parameters

from luca_govsync.adapters.breaker_store import DynamoBreakerStore
from luca_govsync.adapters.dynamodb_contracts import DynamoGradeSource, DynamoTerms
from luca_govsync.adapters.dynamodb_store import DynamoSyncStore, now_iso
from luca_govsync.adapters.ministry_client import MinistryClient, MinistrySettings
from luca_govsync.adapters.s3_manifests import S3Manifests
from luca_govsync.adapters.sqs_dead_letters import SqsDeadLetterQueue
from luca_govsync.adapters.stepfunctions import StepFunctionsExecutions
from luca_govsync.config import GovSyncSettings, OperationsSettings, StarterSettings
from luca_govsync.entrypoints.operations import SyncOperations
from luca_govsync.service_layer.dead_letters import DeadLetters
from luca_govsync.service_layer.pacing import Pacing
from luca_govsync.service_layer.starter import Started, SyncStarter
from luca_govsync.service_layer.tasks import SyncTasks
from luca_kernel.ids import is_school_id
from luca_kernel.rule_cache import RuleCache
from luca_platform.aws import AwsClients
from luca_platform.contracts.rules import TableRules

# What this root builds, named here for callers outside the service (the local platform), which
# reach the service only through its composition roots.
__all__ = [
    "GovSyncApp",
    "Schools",
    "Started",
    "SyncStarter",
    "build",
    "build_operations",
    "build_starter",
    "ministry_credentials",
]

# How the starter lists the schools to sync (the SSM parameter school onboarding appends to).
Schools = Callable[[], list[str]]


@dataclass(frozen=True, slots=True)
class GovSyncApp:
    settings: GovSyncSettings
    clients: AwsClients
    store: DynamoSyncStore
    ministry: MinistryClient
    tasks: SyncTasks


def ministry_credentials(settings: GovSyncSettings) -> tuple[str, str]:
    """(client id, client secret): from the secret when one is named, else as configured."""
    if not settings.ministry_secret_arn:
        return settings.ministry_client_id, settings.ministry_client_secret
    secret = parameters.get_secret(settings.ministry_secret_arn, transform="json", max_age=3600)
    if not isinstance(secret, dict) or not secret.get("client_id") or not secret.get("client_secret"):
        raise RuntimeError("the ministry secret must hold client_id and client_secret")
    return str(secret["client_id"]), str(secret["client_secret"])


def build(settings: GovSyncSettings, clients: AwsClients | None = None) -> GovSyncApp:
    clients = clients or AwsClients.from_settings(settings)
    s3 = boto3.client("s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    store = DynamoSyncStore(clients, settings.table_name)
    client_id, client_secret = ministry_credentials(settings)
    ministry = MinistryClient(
        MinistrySettings(
            base_url=settings.ministry_url,
            client_id=client_id,
            client_secret=client_secret,
            timeout_seconds=settings.ministry_timeout_seconds,
        )
    )
    tasks = SyncTasks(
        grades=DynamoGradeSource(clients, settings.table_name),
        rules=TableRules(clients, settings.table_name, RuleCache(ttl_seconds=60.0)),
        manifests=S3Manifests(s3, settings.manifest_bucket),
        store=store,
        ministry=ministry,
        batch_size=settings.batch_size,
        clock=now_iso,
        pacing=Pacing(
            DynamoBreakerStore(clients, settings.table_name),
            # A probe's longest answer: a token, the call, and the call again after a 401.
            lease_seconds=3 * settings.ministry_timeout_seconds + 1,
            clock=time.time,
        ),
    )
    return GovSyncApp(settings, clients, store, ministry, tasks)


def sync_starter(executions: StepFunctionsExecutions, clients: AwsClients, table_name: str) -> SyncStarter:
    """A starter that reads each school's term, grades and sync state as that school."""
    return SyncStarter(
        executions,
        terms=DynamoTerms(clients, table_name),
        grades=DynamoGradeSource(clients, table_name),
        store=DynamoSyncStore(clients, table_name),
    )


def build_starter(
    settings: StarterSettings, clients: AwsClients | None = None
) -> tuple[SyncStarter, Schools]:
    """The scheduled starter and how it lists the schools to sync."""
    sfn = boto3.client(
        "stepfunctions", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    ssm = boto3.client("ssm", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    clients = clients or AwsClients.from_settings(settings)

    def schools() -> list[str]:
        value = ssm.get_parameter(Name=settings.schools_parameter)["Parameter"]["Value"]
        # The stack's placeholder (a StringList cannot be empty) and anything else that is no school
        # id is not a school to sync.
        return [school.strip() for school in value.split(",") if is_school_id(school.strip())]

    executions = StepFunctionsExecutions(sfn, settings.state_machine_arn)
    return sync_starter(executions, clients, settings.table_name), schools


def build_operations(settings: OperationsSettings) -> SyncOperations:
    """What operators' tools use: the starter, executions' status, the sync's progress and (when
    the settings name it) the DLQ."""
    sfn = boto3.client(
        "stepfunctions", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    executions = StepFunctionsExecutions(sfn, settings.state_machine_arn)
    clients = AwsClients.from_settings(settings)
    starter = sync_starter(executions, clients, settings.table_name)
    dead_letters = None
    if settings.dlq_url:
        sqs = boto3.client("sqs", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        dead_letters = DeadLetters(starter, SqsDeadLetterQueue(sqs, settings.dlq_url))
    return SyncOperations(
        starter=starter,
        executions=executions,
        store=DynamoSyncStore(clients, settings.table_name),
        dead_letters=dead_letters,
    )
