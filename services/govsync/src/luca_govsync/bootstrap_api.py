"""The gRPC API container's composition root: settings in, the sync's control and the caller
authenticator out. Separate from the Lambda functions' (``bootstrap``): token verification needs
native crypto, which the functions' pure-Python bundle does not carry."""

from __future__ import annotations

import boto3

from luca_govsync.adapters.dynamodb_contracts import DynamoGradeSource, DynamoTerms
from luca_govsync.adapters.dynamodb_store import DynamoSyncStore
from luca_govsync.adapters.sqs_dead_letters import SqsDeadLetterQueue
from luca_govsync.adapters.stepfunctions import StepFunctionsExecutions
from luca_govsync.config import ApiSettings
from luca_govsync.service_layer.control import SyncControl
from luca_platform.aws import AwsClients
from luca_platform.tokens import Authenticator, authenticator_from_settings


def build_control(
    settings: ApiSettings, clients: AwsClients | None = None
) -> tuple[SyncControl, Authenticator]:
    """The gRPC API's composition: the sync's control over Step Functions and the table, and the
    authenticator that verifies callers' tokens (Cognito ID tokens; service tokens when a key is set)."""
    clients = clients or AwsClients.from_settings(settings)
    sfn = boto3.client(
        "stepfunctions", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    dead_letter_queue = None
    if settings.dlq_url:  # the DLQ is the platform's, read with the API's own role (filtered per school)
        sqs = boto3.client("sqs", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        dead_letter_queue = SqsDeadLetterQueue(sqs, settings.dlq_url)
    control = SyncControl(
        executions=StepFunctionsExecutions(sfn, settings.state_machine_arn),
        store=DynamoSyncStore(clients, settings.table_name),
        terms=DynamoTerms(clients, settings.table_name),
        grades=DynamoGradeSource(clients, settings.table_name),
        dead_letter_queue=dead_letter_queue,
    )
    return control, authenticator_from_settings(settings)
