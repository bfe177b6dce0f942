"""Provisioning on the embedded emulator: every resource as the definitions describe it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import httpx
import pytest

from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.emulator import Emulator, PortInUseError
from luca_infra.local.provision import ProvisionedResources, event_queues, provision
from luca_platform.table import keys

pytestmark = pytest.mark.emulator
DEFINITION = PLATFORM_DEFINITION


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = Emulator(port=0)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def resources(emulator: Emulator) -> ProvisionedResources:
    return provision(emulator.url)


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, region_name=emulator.region, endpoint_url=emulator.url)


def test_the_table_follows_the_table_design(emulator: Emulator, resources: ProvisionedResources) -> None:
    dynamodb = client(emulator, "dynamodb")
    table = dynamodb.describe_table(TableName=resources.table_name)["Table"]

    assert resources.table_name == DEFINITION.table.name
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        (DEFINITION.table.partition_key, "HASH"),
        (DEFINITION.table.sort_key, "RANGE"),
    }
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {index.name for index in keys.INDEXES}
    for design in keys.INDEXES:
        index = indexes[design.name]
        assert {(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]} == {
            (design.partition_key, "HASH"),
            (design.sort_key, "RANGE"),
        }
        assert index["Projection"]["ProjectionType"] == "ALL"
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": DEFINITION.table.stream_view,
    }
    assert resources.stream_arn == table["LatestStreamArn"]
    ttl = dynamodb.describe_time_to_live(TableName=resources.table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": DEFINITION.table.ttl_attribute}


def test_the_user_pool_keeps_school_and_student_immutable_and_unwritable(
    emulator: Emulator, resources: ProvisionedResources
) -> None:
    cognito = client(emulator, "cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=resources.user_pool_id)["UserPool"]
    app = cognito.describe_user_pool_client(
        UserPoolId=resources.user_pool_id, ClientId=resources.user_pool_client_id
    )["UserPoolClient"]
    groups = cognito.list_groups(UserPoolId=resources.user_pool_id)["Groups"]

    assert pool["Name"] == DEFINITION.user_pool.name
    custom = {a["Name"]: a for a in pool["SchemaAttributes"] if a["Name"].startswith("custom:")}
    claims = {DEFINITION.user_pool.school_claim, DEFINITION.user_pool.student_claim}
    assert set(custom) == claims
    assert all(attribute["Mutable"] is False for attribute in custom.values())
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert {g["GroupName"] for g in groups} == set(DEFINITION.user_pool.groups)
    assert app["ClientName"] == DEFINITION.user_pool.client_name
    assert set(app["ExplicitAuthFlows"]) == set(DEFINITION.user_pool.auth_flows)
    assert claims <= set(app["ReadAttributes"])
    assert not claims & set(app["WriteAttributes"])


def test_the_jwks_url_serves_the_pool_keys(resources: ProvisionedResources) -> None:
    keys = httpx.get(resources.jwks_url, timeout=5, trust_env=False).json()["keys"]

    assert keys
    assert all(key["alg"] == "RS256" for key in keys)


def test_the_tenant_role_confines_sessions_to_their_school_keys(
    emulator: Emulator, resources: ProvisionedResources
) -> None:
    iam = client(emulator, "iam")
    role_definition = DEFINITION.tenant_role
    role = iam.get_role(RoleName=role_definition.name)["Role"]
    policy = iam.get_role_policy(RoleName=role_definition.name, PolicyName="school-partition-only")[
        "PolicyDocument"
    ]
    if isinstance(policy, str):
        policy = json.loads(policy)

    assert resources.tenant_role_arn == role["Arn"]
    trusted = {statement["Action"] for statement in role["AssumeRolePolicyDocument"]["Statement"]}
    assert trusted == {"sts:AssumeRole", "sts:TagSession"}
    (statement,) = policy["Statement"]
    assert set(statement["Action"]) == set(role_definition.actions)
    assert set(statement["Resource"]) == {resources.table_arn, f"{resources.table_arn}/index/*"}
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [role_definition.leading_key_pattern]}
    }


def test_the_service_can_assume_the_tenant_role_with_a_school_tag(
    emulator: Emulator, resources: ProvisionedResources
) -> None:
    credentials = client(emulator, "sts").assume_role(
        RoleArn=resources.tenant_role_arn,
        RoleSessionName="luca-school-a",
        Tags=[{"Key": DEFINITION.tenant_role.session_tag, "Value": "school-a"}],
        DurationSeconds=DEFINITION.tenant_role.session_duration_seconds,
    )["Credentials"]

    assert credentials["AccessKeyId"]


def test_the_service_identity_key_signs_and_has_its_alias(
    emulator: Emulator, resources: ProvisionedResources
) -> None:
    kms = client(emulator, "kms")
    key = kms.describe_key(KeyId=PLATFORM_DEFINITION.service_identity.alias)["KeyMetadata"]

    assert key["KeyId"] == resources.service_key_id
    assert key["KeySpec"] == "RSA_2048"
    assert key["KeyUsage"] == "SIGN_VERIFY"


def test_the_events_queue_keeps_failures_for_its_dlq_as_the_definition_says(
    emulator: Emulator, resources: ProvisionedResources
) -> None:
    sqs = client(emulator, "sqs")
    ingest = DEFINITION.ingest
    queue = sqs.get_queue_attributes(QueueUrl=resources.events_queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    dlq = sqs.get_queue_attributes(QueueUrl=resources.events_dlq_url, AttributeNames=["All"])["Attributes"]

    assert resources.events_queue_url == sqs.get_queue_url(QueueName=ingest.queue_name)["QueueUrl"]
    assert resources.events_dlq_url == sqs.get_queue_url(QueueName=ingest.dlq_name)["QueueUrl"]
    assert (queue["QueueArn"], dlq["QueueArn"]) == (resources.events_queue_arn, resources.events_dlq_arn)
    # Lambda's rule for SQS sources: at least six times the function's timeout.
    assert int(queue["VisibilityTimeout"]) == 6 * ingest.function_timeout_seconds
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == resources.events_dlq_arn
    assert int(redrive["maxReceiveCount"]) == ingest.max_receive_count
    assert int(queue["MessageRetentionPeriod"]) == ingest.message_retention_days * 86_400
    assert int(dlq["MessageRetentionPeriod"]) == ingest.dlq_retention_days * 86_400
    assert "RedrivePolicy" not in dlq


def test_a_queue_found_with_other_settings_is_given_the_definitions(emulator: Emulator) -> None:
    suffix = uuid.uuid4().hex[:8]
    definition = replace(
        DEFINITION,
        ingest=replace(DEFINITION.ingest, queue_name=f"events-{suffix}", dlq_name=f"events-dlq-{suffix}"),
    )
    sqs = client(emulator, "sqs")
    stale = sqs.create_queue(QueueName=definition.ingest.queue_name, Attributes={"VisibilityTimeout": "7"})

    queues = event_queues(sqs, definition)

    assert queues.queue_url == stale["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["All"])["Attributes"]
    assert int(queue["VisibilityTimeout"]) == definition.ingest.visibility_timeout_seconds
    assert json.loads(queue["RedrivePolicy"])["deadLetterTargetArn"] == queues.dlq_arn


def test_provisioning_again_finds_the_same_resources(
    emulator: Emulator, resources: ProvisionedResources
) -> None:
    assert provision(emulator.url) == resources


def test_a_taken_port_fails_fast_with_a_clear_error(emulator: Emulator) -> None:
    with pytest.raises(PortInUseError, match="in use"):
        Emulator(port=emulator.bound_port).start()
