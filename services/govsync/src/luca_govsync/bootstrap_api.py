"""The gRPC API container's composition root: settings in, the sync's control and the caller
authenticator out. Separate from the Lambda functions' (``bootstrap``): token verification needs
native crypto, which the functions' pure-Python bundle does not carry."""

from __future__ import annotations

import boto3

from luca_govsync.adapters.dynamodb_store import DynamoSyncStore
from luca_govsync.adapters.stepfunctions import StepFunctionsExecutions
from luca_govsync.config import ApiSettings
from luca_govsync.service_layer.control import SyncControl
from luca_grading.adapters.aws_clients import AwsClients
from luca_grading.adapters.tokens import (
    Authenticator,
    CognitoSettings,
    CognitoTokenVerifier,
    ServiceTokenVerifier,
)


def build_control(
    settings: ApiSettings, clients: AwsClients | None = None
) -> tuple[SyncControl, Authenticator]:
    """The gRPC API's composition: the sync's control over Step Functions and the table, and the
    authenticator that verifies callers' tokens (Cognito ID tokens; service tokens when a key is set)."""
    clients = clients or AwsClients(
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        tenant_role_arn=settings.tenant_role_arn,
    )
    sfn = boto3.client(
        "stepfunctions", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    control = SyncControl(
        executions=StepFunctionsExecutions(sfn, settings.state_machine_arn),
        store=DynamoSyncStore(clients, settings.table_name),
    )
    services = None
    if settings.service_token_key_id:
        kms = boto3.client("kms", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        services = ServiceTokenVerifier.from_kms(kms, settings.service_token_key_id)
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
    return control, Authenticator(users=users, services=services)
