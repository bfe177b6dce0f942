"""The role operators run ``luca … --stage`` with: what each command needs, and nothing more.

GIVEN the synthesized LucaOperations template
THEN  evaluated by a real IAM policy engine, ``luca-operator`` may read the stage's document, read
      and clear both DLQs and redrive into the events queue, start and follow the sync, become one
      school through the tenant role, and read traces, the runbooks' logs and the lake; it may not
      touch the table itself, another queue, another state machine, or send into a DLQ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from luca_infra import stage_resources
from luca_infra.definitions import PLATFORM_DEFINITION

pytestmark = pytest.mark.infra

STACK = "LucaOperations"
DEFINITION = PLATFORM_DEFINITION
ACCOUNT = "111122223333"
REGION = "eu-west-1"
ROLE = DEFINITION.operator_role_name
Simulate = Callable[[dict[str, dict[str, Any]]], dict[str, str]]


def sqs(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def parameter(name: str) -> str:
    return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}"


MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{DEFINITION.govsync.state_machine_name}"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{DEFINITION.govsync.state_machine_name}:govsync-A"
TENANT = f"arn:aws:iam::{ACCOUNT}:role/{DEFINITION.tenant_role.name}"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{DEFINITION.table.name}"
LAKE = f"arn:aws:s3:::{DEFINITION.analytics_aws.lake_bucket_prefix}-{ACCOUNT}-{REGION}"
LAKE_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/lake"
LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{DEFINITION.ingest.log_group_name}"


def resolve(value: Any) -> Any:
    if isinstance(value, list):
        return [resolve(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}[value["Ref"]]
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part)) for part in parts)
    if set(value) == {"Fn::ImportValue"}:  # the lake's key, exported by LucaAnalytics
        assert "LakeKey" in str(value["Fn::ImportValue"]), value
        return LAKE_KEY
    return {key: resolve(item) for key, item in value.items()}


@pytest.fixture(scope="module")
def operator_policy(synthesized: Any) -> dict[str, Any]:
    (role_id,) = [
        lid
        for lid, role in synthesized.resources(STACK, "AWS::IAM::Role").items()
        if role["Properties"].get("RoleName") == ROLE
    ]
    statements = [
        statement
        for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    return {"Version": "2012-10-17", "Statement": resolve(statements)}


def test_the_operator_role_is_assumed_from_the_account_for_an_hour(synthesized: Any) -> None:
    (role,) = [
        r["Properties"]
        for r in synthesized.resources(STACK, "AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == ROLE
    ]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert resolve(statement["Principal"]["AWS"]) == f"arn:aws:iam::{ACCOUNT}:root"
    assert role["MaxSessionDuration"] == 3600
    outputs = synthesized.templates[STACK]["Outputs"]
    assert any(key.startswith("OperatorRoleArn") for key in outputs)


def test_the_operator_role_runs_the_tools_and_nothing_else(
    simulate_iam: Simulate, iam_case: Callable[..., dict[str, Any]], operator_policy: dict[str, Any]
) -> None:
    def request(action: str, resource: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
        return iam_case(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/alice",
            operator_policy,
            ACCOUNT,
            action,
            resource,
            context,
        )

    tag = DEFINITION.tenant_role.session_tag
    events_dlq, sync_dlq = sqs(DEFINITION.ingest.dlq_name), sqs(DEFINITION.govsync.dlq_name)
    allowed = {
        "read the stage's document": request(
            "ssm:GetParameter", parameter(stage_resources.parameter_name("prod"))
        ),
        "read the schools to sync": request(
            "ssm:GetParameter", parameter(DEFINITION.govsync.schools_parameter)
        ),
        "dlq list": request("sqs:ReceiveMessage", events_dlq),
        "dlq list puts back": request("sqs:ChangeMessageVisibility", events_dlq),
        "dlq redrive sends": request("sqs:SendMessage", sqs(DEFINITION.ingest.queue_name)),
        "dlq redrive removes": request("sqs:DeleteMessage", events_dlq),
        "sync dlq": request("sqs:ReceiveMessage", sync_dlq),
        "sync redrive removes": request("sqs:DeleteMessage", sync_dlq),
        "sync start": request("states:StartExecution", MACHINE),
        "sync status follows": request("states:DescribeExecution", EXECUTION),
        "become one school": request(
            "sts:AssumeRole", TENANT, {f"aws:RequestTag/{tag}": "A", "aws:TagKeys": [tag]}
        ),
        "trace reads X-Ray": request("xray:GetTraceSummaries", "*"),
        "trace queries logs": request("logs:StartQuery", LOG_GROUP),
        "trace reads the lake row": request("s3:GetObject", f"{LAKE}/lake/school_id=A/part.parquet"),
        "lake show lists": request("s3:ListBucket", LAKE),
    }
    denied = {
        "read another parameter": request("ssm:GetParameter", parameter("/other/secret")),
        "send into a DLQ": request("sqs:SendMessage", events_dlq),
        "read another queue": request("sqs:ReceiveMessage", sqs("other-queue")),
        "stop a sync": request("states:StopExecution", EXECUTION),
        "start another machine": request(
            "states:StartExecution", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:other"
        ),
        "scan the table": request("dynamodb:Scan", TABLE),
        "query the table itself": request("dynamodb:Query", TABLE),
        "write a lake file": request("s3:PutObject", f"{LAKE}/lake/x.parquet"),
        "query another log group": request(
            "logs:StartQuery", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/other"
        ),
    }
    results = simulate_iam({**allowed, **denied})
    # KMS also needs the key's own policy, so the lake key is read from the policy, not simulated.
    kms = [s for s in operator_policy["Statement"] if "kms:" in str(s["Action"])]
    assert [(s["Action"], s["Resource"]) for s in kms] == [("kms:Decrypt", LAKE_KEY)]

    wrong = {
        name: results[name]
        for name in (*allowed, *denied)
        if results[name] != ("Allowed" if name in allowed else "ImplicitlyDenied")
    }
    assert not wrong, wrong
