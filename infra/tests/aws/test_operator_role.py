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
USER_POOL = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_pool"
AUDIT_LOG = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{DEFINITION.tenant_audit_log_group}"
ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{DEFINITION.latency_alarm_prefix}"


def gateway(path: str) -> str:
    return f"arn:aws:apigateway:{REGION}::{path}"


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
    if set(value) == {"Fn::ImportValue"}:  # the lake's key (LucaAnalytics), the user pool (LucaIdentity)
        if "UserPool" in str(value["Fn::ImportValue"]):
            return USER_POOL
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


def test_the_operator_role_creates_exports_and_erases_schools_and_nothing_more(
    simulate_iam: Simulate, iam_case: Callable[..., dict[str, Any]], operator_policy: dict[str, Any]
) -> None:
    def request(action: str, resource: str) -> dict[str, Any]:
        return iam_case(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/alice",
            operator_policy,
            ACCOUNT,
            action,
            resource,
            None,
        )

    schools = parameter(DEFINITION.govsync.schools_parameter)
    allowed = {
        "invite the admin": request("cognito-idp:AdminCreateUser", USER_POOL),
        "admin in the admins group": request("cognito-idp:AdminAddUserToGroup", USER_POOL),
        "find a school's users": request("cognito-idp:ListUsers", USER_POOL),
        "export their groups": request("cognito-idp:AdminListGroupsForUser", USER_POOL),
        "erase a user": request("cognito-idp:AdminDeleteUser", USER_POOL),
        "find the key": request("apigateway:GET", gateway("/apikeys")),
        "find the tier's plan": request("apigateway:GET", gateway("/usageplans")),
        "the plan's keys": request("apigateway:GET", gateway("/usageplans/p1/keys")),
        "create the key": request("apigateway:POST", gateway("/apikeys")),
        "key into the plan": request("apigateway:POST", gateway("/usageplans/p1/keys")),
        "key out of the plan": request("apigateway:DELETE", gateway("/usageplans/p1/keys/k1")),
        "delete the key": request("apigateway:DELETE", gateway("/apikeys/k1")),
        "put the school's alarm": request("cloudwatch:PutMetricAlarm", f"{ALARM}-liceo-7"),
        "delete the school's alarm": request("cloudwatch:DeleteAlarms", f"{ALARM}-liceo-7"),
        "schedule the school": request("ssm:PutParameter", schools),
        "erase lake rows": request("s3:DeleteObjectVersion", f"{LAKE}/lake/grades/school_id=A/x.parquet"),
        "list lake versions": request("s3:ListBucketVersions", LAKE),
        "write the audit trail": request(
            "logs:PutLogEvents", f"{AUDIT_LOG}:log-stream:2025/01/01/delete/A/x"
        ),
        "read the audit trail": request("logs:FilterLogEvents", AUDIT_LOG),
    }
    implicitly_denied = {
        "create a usage plan": request("apigateway:POST", gateway("/usageplans")),
        "change the API": request("apigateway:PATCH", gateway("/restapis/api1")),
        "delete a plan": request("apigateway:DELETE", gateway("/usageplans/p1")),
        "another alarm": request(
            "cloudwatch:DeleteAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:Luca-Ingest-DLQ-Alert"
        ),
        "delete outside the lake's rows": request("s3:DeleteObject", f"{LAKE}/athena/results.csv"),
        "write another parameter": request(
            "ssm:PutParameter", parameter(stage_resources.parameter_name("prod"))
        ),
        "write another log group": request("logs:PutLogEvents", f"{LOG_GROUP}:log-stream:x"),
        "change a user's school": request("cognito-idp:AdminUpdateUserAttributes", USER_POOL),
        "delete the table's items itself": request("dynamodb:DeleteItem", TABLE),
    }
    explicitly_denied = {
        "delete the platform-wide alarm": request("cloudwatch:DeleteAlarms", f"{ALARM}-All"),
    }
    results = simulate_iam({**allowed, **implicitly_denied, **explicitly_denied})

    expected = (
        {name: "Allowed" for name in allowed}
        | {name: "ImplicitlyDenied" for name in implicitly_denied}
        | {name: "ExplicitlyDenied" for name in explicitly_denied}
    )
    wrong = {name: results[name] for name in expected if results[name] != expected[name]}
    assert not wrong, wrong
