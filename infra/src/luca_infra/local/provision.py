"""Provision the emulator from the platform's definitions: the same resources the CDK app deploys.

Names, keys, indexes, groups, attributes and auth flows all come from
``luca_infra.definitions.PLATFORM_DEFINITION`` (and, through it, the grading service's table
design); nothing is spelled twice. Calls go through boto3, so this is also a check that the
definitions make valid AWS requests.

Re-running against an emulator that already holds the resources reuses them (moto's state is
process-wide: a second emulator in the same process sees the first one's resources).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition
from luca_infra.local.emulator import REGION
from luca_platform.table import keys

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sqs import SQSClient


_STANDARD_READ_ATTRIBUTES = ("email", "email_verified", "name")
_STANDARD_WRITE_ATTRIBUTES = ("email", "name")


@dataclass(frozen=True, slots=True)
class ProvisionedResources:
    """What provisioning produced: everything a service or tool needs to find the resources."""

    endpoint_url: str
    region: str
    table_name: str
    table_arn: str
    stream_arn: str
    user_pool_id: str
    user_pool_client_id: str
    jwks_url: str
    tenant_role_arn: str
    batch_role_arn: str
    service_key_id: str
    service_key_alias: str
    events_queue_url: str
    events_queue_arn: str
    events_dlq_url: str
    events_dlq_arn: str


@dataclass(frozen=True, slots=True)
class EventQueues:
    """The burst path's queue and its dead-letter queue."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def provision(
    endpoint_url: str, *, region: str = REGION, definition: PlatformDefinition = PLATFORM_DEFINITION
) -> ProvisionedResources:
    """Create (or find) the table, user pool, tenant role, service-identity key and event queues."""
    session = boto3.Session(region_name=region)
    dynamodb: DynamoDBClient = session.client("dynamodb", endpoint_url=endpoint_url)
    cognito: CognitoIdentityProviderClient = session.client("cognito-idp", endpoint_url=endpoint_url)
    iam: IAMClient = session.client("iam", endpoint_url=endpoint_url)
    kms: KMSClient = session.client("kms", endpoint_url=endpoint_url)
    sqs: SQSClient = session.client("sqs", endpoint_url=endpoint_url)
    account = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Account"]

    table_arn, stream_arn = _table(dynamodb, definition)
    pool_id = _user_pool(cognito, definition)
    client_id = _app_client(cognito, pool_id, definition)
    role_arn = _tenant_role(iam, account, table_arn, definition)
    batch_arn = _batch_role(iam, account, table_arn, definition)
    key_id = _service_identity_key(kms, definition)
    queues = event_queues(sqs, definition)
    return ProvisionedResources(
        endpoint_url=endpoint_url,
        region=region,
        table_name=definition.table.name,
        table_arn=table_arn,
        stream_arn=stream_arn,
        user_pool_id=pool_id,
        user_pool_client_id=client_id,
        # moto serves the pool's keys here; its openid-configuration points at AWS (LOCAL-ENGINE.md).
        jwks_url=f"{endpoint_url}/{pool_id}/.well-known/jwks.json",
        tenant_role_arn=role_arn,
        batch_role_arn=batch_arn,
        service_key_id=key_id,
        service_key_alias=definition.service_identity.alias,
        events_queue_url=queues.queue_url,
        events_queue_arn=queues.queue_arn,
        events_dlq_url=queues.dlq_url,
        events_dlq_arn=queues.dlq_arn,
    )


# -- data ------------------------------------------------------------------------------------------
def _table(dynamodb: DynamoDBClient, definition: PlatformDefinition) -> tuple[str, str]:
    name = definition.table.name
    with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
        # The table design's own request builder: keys, all-attribute GSIs, on-demand, stream view.
        dynamodb.create_table(**keys.create_table_request(name))  # type: ignore[arg-type]
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    dynamodb.update_time_to_live(**keys.time_to_live_request(name))  # type: ignore[arg-type]
    if definition.table.point_in_time_recovery:
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    # Deletion protection is left off locally: the emulator's state dies with the process anyway.
    table = dynamodb.describe_table(TableName=name)["Table"]
    return table["TableArn"], table["LatestStreamArn"]


# -- burst path -----------------------------------------------------------------------------------
_DAY_SECONDS = 86_400


def queue_attributes(definition: PlatformDefinition, dlq_arn: str) -> dict[str, str]:
    """The events queue: the function's visibility timeout, retention, and redrive to the DLQ."""
    ingest = definition.ingest
    return {
        "VisibilityTimeout": str(ingest.visibility_timeout_seconds),
        "MessageRetentionPeriod": str(ingest.message_retention_days * _DAY_SECONDS),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": ingest.max_receive_count}
        ),
    }


def dlq_attributes(definition: PlatformDefinition) -> dict[str, str]:
    return {"MessageRetentionPeriod": str(definition.ingest.dlq_retention_days * _DAY_SECONDS)}


def event_queues(sqs: SQSClient, definition: PlatformDefinition = PLATFORM_DEFINITION) -> EventQueues:
    """Create (or find, and bring up to date) the events queue and its DLQ from ``definition.ingest``."""
    ingest = definition.ingest
    dlq_url, dlq_arn = _queue(sqs, ingest.dlq_name, dlq_attributes(definition))
    queue_url, queue_arn = _queue(sqs, ingest.queue_name, queue_attributes(definition, dlq_arn))
    return EventQueues(queue_url=queue_url, queue_arn=queue_arn, dlq_url=dlq_url, dlq_arn=dlq_arn)


def _queue(sqs: SQSClient, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    except sqs.exceptions.QueueNameExists:  # there, with other attributes: make them the definition's
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


# -- identity --------------------------------------------------------------------------------------
def _user_pool(cognito: CognitoIdentityProviderClient, definition: PlatformDefinition) -> str:
    pool = definition.user_pool
    for page in cognito.get_paginator("list_user_pools").paginate(PaginationConfig={"PageSize": 60}):
        for existing in page["UserPools"]:
            if existing.get("Name") == pool.name:
                return existing["Id"]
    created = cognito.create_user_pool(
        PoolName=pool.name,
        # Immutable: a user's school (and a student's identity) is set once, by an admin.
        Schema=[
            {"Name": attribute, "AttributeDataType": "String", "Mutable": False}
            for attribute in (pool.school_attribute, pool.student_attribute)
        ],
        # Schools create their users; nobody signs up (and so nobody picks their own school).
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )
    pool_id = created["UserPool"]["Id"]
    for group in pool.groups:
        with contextlib.suppress(cognito.exceptions.GroupExistsException):
            cognito.create_group(UserPoolId=pool_id, GroupName=group)
    return pool_id


def _app_client(cognito: CognitoIdentityProviderClient, pool_id: str, definition: PlatformDefinition) -> str:
    pool = definition.user_pool
    for page in cognito.get_paginator("list_user_pool_clients").paginate(
        UserPoolId=pool_id, PaginationConfig={"PageSize": 60}
    ):
        for existing in page["UserPoolClients"]:
            if existing.get("ClientName") == pool.client_name:
                return existing["ClientId"]
    created = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=pool.client_name,
        GenerateSecret=False,
        ExplicitAuthFlows=list(pool.auth_flows),  # type: ignore[arg-type]
        # The apps may read the school and student claims but never write them.
        ReadAttributes=[*_STANDARD_READ_ATTRIBUTES, pool.school_claim, pool.student_claim],
        WriteAttributes=list(_STANDARD_WRITE_ATTRIBUTES),
        IdTokenValidity=pool.id_token_validity_minutes,
        TokenValidityUnits={"IdToken": "minutes"},
        PreventUserExistenceErrors="ENABLED",
    )
    return created["UserPoolClient"]["ClientId"]


# -- per-school data access ------------------------------------------------------------------------
def tenant_trust_policy(account: str, session_tag: str) -> dict[str, object]:
    """Who may assume the tenant role: principals of this account, and only with a school tag."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AssumeForOneSchool",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            },
            {
                "Sid": "TagTheSchool",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:TagSession",
                "Condition": {
                    "StringLike": {f"aws:RequestTag/{session_tag}": "?*"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": [session_tag]},
                },
            },
        ],
    }


def tenant_access_policy(table_arn: str, definition: PlatformDefinition) -> dict[str, object]:
    """The tenant role's only permission: the table and its indexes, on the session's school keys."""
    role = definition.tenant_role
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnSchoolPartitionsOnly",
                "Effect": "Allow",
                "Action": list(role.actions),
                "Resource": [table_arn, f"{table_arn}/index/*"],
                "Condition": {
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [role.leading_key_pattern]}
                },
            }
        ],
    }


def _tenant_role(iam: IAMClient, account: str, table_arn: str, definition: PlatformDefinition) -> str:
    role = definition.tenant_role
    try:
        arn = iam.create_role(
            RoleName=role.name,
            AssumeRolePolicyDocument=json.dumps(tenant_trust_policy(account, role.session_tag)),
            MaxSessionDuration=max(role.session_duration_seconds, 3600),  # IAM accepts 1-12 hours
            Description="Per-school data access: assumed with session tag school_id",
        )["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=role.name)["Role"]["Arn"]
    # moto does not evaluate Conditions (LOCAL-ENGINE.md); the policy is here so that the service's
    # AssumeRole-with-tag path runs exactly as in AWS and the role reads like the deployed one.
    iam.put_role_policy(
        RoleName=role.name,
        PolicyName="school-partition-only",
        PolicyDocument=json.dumps(tenant_access_policy(table_arn, definition)),
    )
    return arn


def batch_access_policy(table_arn: str, definition: PlatformDefinition) -> dict[str, object]:
    """The batch role's permission: the table and its indexes on school keys (sessions narrow it)."""
    role = definition.batch_role
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SchoolPartitionsOnly",
                "Effect": "Allow",
                "Action": list(role.actions),
                "Resource": [table_arn, f"{table_arn}/index/*"],
                "Condition": {
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [role.leading_key_pattern]}
                },
            }
        ],
    }


def _batch_role(iam: IAMClient, account: str, table_arn: str, definition: PlatformDefinition) -> str:
    role = definition.batch_role
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnEquals": {
                        "aws:PrincipalArn": [
                            f"arn:aws:iam::{account}:role/{name}" for name in definition.batch_workload_roles
                        ]
                    }
                },
            }
        ],
    }
    try:
        arn = iam.create_role(
            RoleName=role.name,
            AssumeRolePolicyDocument=json.dumps(trust),
            MaxSessionDuration=max(role.session_duration_seconds, 3600),
            Description="A batch's schools' table access; each session narrowed by a session policy",
        )["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=role.name)["Role"]["Arn"]
    # As for the tenant role, moto evaluates neither the policy nor the session policy (LOCAL-ENGINE.md);
    # the IAM simulator tests prove them (infra/tests/aws/test_batch_access.py).
    iam.put_role_policy(
        RoleName=role.name,
        PolicyName="school-partitions-only",
        PolicyDocument=json.dumps(batch_access_policy(table_arn, definition)),
    )
    return arn


# -- service identity ------------------------------------------------------------------------------
def _service_identity_key(kms: KMSClient, definition: PlatformDefinition) -> str:
    identity = definition.service_identity
    try:
        return kms.describe_key(KeyId=identity.alias)["KeyMetadata"]["KeyId"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise
    key_id = kms.create_key(
        KeySpec=identity.key_spec,  # type: ignore[arg-type]
        KeyUsage=identity.key_usage,  # type: ignore[arg-type]
        Description=identity.description,
    )["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=identity.alias, TargetKeyId=key_id)
    return key_id


# -- tenant lifecycle ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LifecycleResources:
    """What ``luca schools`` needs besides the above: the tiers' usage plans (the edge's, made by the
    CDK app in AWS), the alerts topic its alarms notify and the audit log group."""

    usage_plans: dict[str, str]
    alerts_topic_arn: str
    audit_log_group: str


def lifecycle_resources(
    endpoint_url: str, *, region: str = REGION, definition: PlatformDefinition = PLATFORM_DEFINITION
) -> LifecycleResources:
    from luca_infra.schools.edge import ensure_usage_plans

    session = boto3.Session(region_name=region)
    plans = ensure_usage_plans(session.client("apigateway", endpoint_url=endpoint_url), definition.throttling)
    # CreateTopic is idempotent by name.
    topic = session.client("sns", endpoint_url=endpoint_url).create_topic(Name=definition.alerts_topic)[
        "TopicArn"
    ]
    logs = session.client("logs", endpoint_url=endpoint_url)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=definition.tenant_audit_log_group)
    return LifecycleResources(plans, topic, definition.tenant_audit_log_group)
