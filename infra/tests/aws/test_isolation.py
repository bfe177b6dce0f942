"""Tenant isolation as deployed: the synthesized roles, read from the template and evaluated by a real
IAM policy evaluator (moto ignores Conditions, see LOCAL-ENGINE.md).

GIVEN the grading stack's tenant role, task role and their policies exactly as synthesized
WHEN a session tagged with one school asks for keys of that school, another school, or a school
     whose id merely starts the same way
THEN only its own school's keys are allowed, on the table and on every index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match

from luca_grading.adapters import table_design as grading_td
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_platform.contracts import grades as grades_contract
from luca_platform.contracts import roster as roster_contract
from luca_platform.contracts import rules as rules_contract
from luca_platform.table import keys

pytestmark = pytest.mark.infra

GRADING = "LucaGrading"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
# The session fixture ``simulate_iam`` (conftest): named requests in, the policy engine's decisions out.
Simulate = Callable[[dict[str, dict[str, Any]]], dict[str, str]]
TENANT = PLATFORM_DEFINITION.tenant_role
TABLE = PLATFORM_DEFINITION.table
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE.name}"
TASK_ROLE_NAME = "grading-task-role"
SERVICE_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/service-identity"
# The ingest stack's grade processor role, which the tenant trust imports (see test_ingest_stack).
PROCESSOR_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/grade-processor-role"
# The government sync's task role, which the tenant trust imports too (see test_govsync_stack).
GOVSYNC_TASKS_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/govsync-tasks-role"
SCHOOL_TAG = f"aws:PrincipalTag/{TENANT.session_tag}"


# -- reading the synthesized policies ---------------------------------------------------------------
def _roles(synthesized: Any) -> dict[str, str]:
    """Logical id -> the fake ARN each role of the grading stack gets in these simulations."""
    arns = {}
    for logical_id, role in synthesized.resources(GRADING, "AWS::IAM::Role").items():
        name = role["Properties"].get("RoleName", logical_id)
        arns[logical_id] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    return arns


def _logical_id(synthesized: Any, prefix: str) -> str:
    matches = [lid for lid in synthesized.resources(GRADING, "AWS::IAM::Role") if lid.startswith(prefix)]
    assert len(matches) == 1, matches
    return matches[0]


def resolve(value: Any, role_arns: dict[str, str]) -> Any:
    """Resolve the intrinsics these policies use, with a fake account and region."""
    if isinstance(value, list):
        return [resolve(item, role_arns) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}[value["Ref"]]
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part, role_arns)) for part in parts)
    if set(value) == {"Fn::ImportValue"}:
        # A grading policy imports the identity stack's service-identity key; the tenant trust
        # imports the ingest stack's grade processor role.
        name = value["Fn::ImportValue"]
        if name.startswith("LucaIngest:") and "ProcessorRole" in name:
            return PROCESSOR_ROLE_ARN
        if name.startswith("LucaGovSync:") and "TasksRole" in name:
            return GOVSYNC_TASKS_ROLE_ARN
        assert "ServiceIdentity" in name, value
        return SERVICE_KEY_ARN
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        assert logical_id in role_arns, value
        return role_arns[logical_id]
    return {key: resolve(item, role_arns) for key, item in value.items()}


def _policy_of(synthesized: Any, role_logical_id: str) -> dict[str, Any]:
    policies = [
        policy["Properties"]["PolicyDocument"]
        for policy in synthesized.resources(GRADING, "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
    ]
    assert len(policies) == 1, f"expected one policy on {role_logical_id}"
    return policies[0]


@pytest.fixture(scope="module")
def iam(synthesized: Any) -> dict[str, Any]:
    role_arns = _roles(synthesized)
    tenant = _logical_id(synthesized, "TenantAccessTenantRole")
    task = _logical_id(synthesized, "TenantAccessTaskRole")
    role_arns[task] = f"arn:aws:iam::{ACCOUNT}:role/{TASK_ROLE_NAME}"
    roles = synthesized.resources(GRADING, "AWS::IAM::Role")
    return {
        "tenant_arn": role_arns[tenant],
        "task_arn": role_arns[task],
        "tenant_policy": resolve(_policy_of(synthesized, tenant), role_arns),
        "tenant_trust": resolve(roles[tenant]["Properties"]["AssumeRolePolicyDocument"], role_arns),
        "task_policy": resolve(_policy_of(synthesized, task), role_arns),
        "task_logical_id": task,
        "tenant_logical_id": tenant,
    }


# -- the policy text ---------------------------------------------------------------------------------
def test_tenant_policy_limits_leading_keys_on_table_and_indexes(iam: dict[str, Any]) -> None:
    (statement,) = iam["tenant_policy"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(TENANT.actions)
    assert statement["Resource"] == [TABLE_ARN, f"{TABLE_ARN}/index/*"]
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [TENANT.leading_key_pattern]}
    }
    # The separator after the school is what keeps school "A" out of school "AB".
    assert TENANT.leading_key_pattern.endswith(f"}}{keys.SEP}*")


def test_tenant_role_is_the_defined_role(synthesized: Any, iam: dict[str, Any]) -> None:
    synthesized.template(GRADING).has_resource_properties(
        "AWS::IAM::Role",
        {"RoleName": TENANT.name, "MaxSessionDuration": max(TENANT.session_duration_seconds, 3600)},
    )


def test_task_role_may_only_assume_the_tenant_role_verify_service_tokens_write_traces_and_start_syncs(
    iam: dict[str, Any],
) -> None:
    statements = iam["task_policy"]["Statement"]
    actions = {action for statement in statements for action in _as_list(statement["Action"])}
    assert not any(action.lower().startswith("dynamodb:") for action in actions)
    assert actions == {
        "sts:AssumeRole",
        "sts:TagSession",
        "kms:GetPublicKey",
        "kms:DescribeKey",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        # The government sync's API (a container in the task): its own state machine only.
        "states:StartExecution",
        "states:DescribeExecution",
    }
    for statement in statements:
        statement_actions = set(_as_list(statement["Action"]))
        if any(action.startswith("sts:") for action in statement_actions):
            assert statement["Resource"] == iam["tenant_arn"]
            assert statement_actions == {"sts:AssumeRole", "sts:TagSession"}
        if any(action.startswith("states:") for action in statement_actions):
            name = PLATFORM_DEFINITION.govsync.state_machine_name
            assert f":stateMachine:{name}" in str(statement["Resource"]) or f":execution:{name}:*" in str(
                statement["Resource"]
            )
        if any(action.startswith("kms:") for action in statement_actions):
            # It verifies service tokens; it can never mint one (no kms:Sign).
            assert statement["Resource"] == SERVICE_KEY_ARN
            assert statement_actions == set(PLATFORM_DEFINITION.service_identity.verify_actions)


def test_no_role_in_the_grading_stack_touches_the_table_except_the_tenant_role(synthesized: Any) -> None:
    tenant = _logical_id(synthesized, "TenantAccessTenantRole")
    for policy in synthesized.resources(GRADING, "AWS::IAM::Policy").values():
        actions = {
            action
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            for action in _as_list(statement["Action"])
        }
        if any(action.startswith("dynamodb:") for action in actions):
            assert policy["Properties"]["Roles"] == [{"Ref": tenant}]


def test_tenant_trust_requires_the_school_session_tag(synthesized: Any, iam: dict[str, Any]) -> None:
    # One statement per admitted role (the task role; the grade processor's; the government sync
    # tasks'; the analytics query service's task role), same conditions.
    analytics_task = _logical_id(synthesized, "AnalyticsApiTaskRole")
    statements = [
        {
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Principal": {"AWS": principal},
            "Condition": Match.object_like(
                {
                    "StringLike": {f"aws:RequestTag/{TENANT.session_tag}": "?*"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": [TENANT.session_tag]},
                }
            ),
        }
        for principal in (
            {"Fn::GetAtt": [iam["task_logical_id"], "Arn"]},
            {"Fn::GetAtt": [analytics_task, "Arn"]},  # admitted inside the grading stack
            {"Fn::ImportValue": Match.string_like_regexp(r"^LucaIngest:.*ProcessorRole")},
            {"Fn::ImportValue": Match.string_like_regexp(r"^LucaGovSync:.*TasksRole")},
        )
    ]
    synthesized.template(GRADING).has_resource_properties(
        "AWS::IAM::Role",
        {"RoleName": TENANT.name, "AssumeRolePolicyDocument": {"Statement": statements}},
    )


def test_service_is_told_the_tenant_role(synthesized: Any, iam: dict[str, Any]) -> None:
    synthesized.template(GRADING).has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "ContainerDefinitions": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Environment": Match.array_with(
                                [
                                    {
                                        "Name": "LUCA_TENANT_ROLE_ARN",
                                        "Value": {"Fn::GetAtt": [iam["tenant_logical_id"], "Arn"]},
                                    }
                                ]
                            )
                        }
                    )
                ]
            )
        },
    )


# -- evaluated by a policy engine --------------------------------------------------------------------
def assert_simulated(simulate_iam: Simulate, expectations: dict[str, tuple[dict[str, Any], str]]) -> None:
    """Every named request gets its expected decision from the policy engine."""
    results = simulate_iam({name: request for name, (request, _) in expectations.items()})
    wrong = {
        name: (results[name], expected)
        for name, (_, expected) in expectations.items()
        if results[name] != expected
    }
    assert not wrong, wrong


def data_request(
    iam: dict[str, Any], *, school: str | None, action: str, resource: str, keys: list[str]
) -> dict[str, Any]:
    context: dict[str, Any] = {"dynamodb:LeadingKeys": keys}
    if school is not None:
        context[SCHOOL_TAG] = school
    return {
        "request": {
            "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/{TENANT.name}/grading-{school}",
            "action": action,
            "resource": {"resource": resource, "accountId": ACCOUNT},
            "contextVariables": context,
        },
        "identityPolicies": [{"name": "tenant", "policy": iam["tenant_policy"]}],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }


def test_a_school_session_reaches_only_its_own_partitions(
    simulate_iam: Simulate, iam: dict[str, Any]
) -> None:
    own = roster_contract.student_pk("A", "1")
    expectations: dict[str, tuple[dict[str, Any], str]] = {}
    for action in TENANT.actions:
        for key, outcome in (
            (own, "Allowed"),
            (roster_contract.student_pk("B", "1"), "ImplicitlyDenied"),
            # Prefix confusion: school "A" must not reach school "AB".
            (roster_contract.student_pk("AB", "1"), "ImplicitlyDenied"),
            (roster_contract.catalog_pk("AB"), "ImplicitlyDenied"),
            # A key that is only the school's name, without the separator, is no key of the school.
            (f"SCHOOL{keys.SEP}A", "ImplicitlyDenied"),
        ):
            request = data_request(iam, school="A", action=action, resource=TABLE_ARN, keys=[key])
            expectations[f"{action} table {key}"] = (request, outcome)
    for index in keys.INDEXES:
        index_arn = f"{TABLE_ARN}/index/{index.name}"
        for key, outcome in (
            (grading_td.course_term_pk("A", "c1", "t1"), "Allowed"),
            (grades_contract.school_term_pk("A", "t1"), "Allowed"),
            (grading_td.course_term_pk("B", "c1", "t1"), "ImplicitlyDenied"),
            (grades_contract.school_term_pk("AB", "t1"), "ImplicitlyDenied"),
        ):
            request = data_request(iam, school="A", action="dynamodb:Query", resource=index_arn, keys=[key])
            expectations[f"Query {index.name} {key}"] = (request, outcome)
    # A batch is allowed only if every key is the school's own.
    mixed = [own, roster_contract.student_pk("B", "1")]
    expectations["BatchWriteItem mixed schools"] = (
        data_request(iam, school="A", action="dynamodb:BatchWriteItem", resource=TABLE_ARN, keys=mixed),
        "ImplicitlyDenied",
    )
    expectations["BatchGetItem own school"] = (
        data_request(
            iam,
            school="A",
            action="dynamodb:BatchGetItem",
            resource=TABLE_ARN,
            keys=[own, rules_contract.rules_pk("A")],
        ),
        "Allowed",
    )
    # No tag, no data; and no Scan at all (a scan has no leading key to check).
    expectations["GetItem untagged session"] = (
        data_request(iam, school=None, action="dynamodb:GetItem", resource=TABLE_ARN, keys=[own]),
        "ImplicitlyDenied",
    )
    expectations["Scan own school"] = (
        data_request(iam, school="A", action="dynamodb:Scan", resource=TABLE_ARN, keys=[own]),
        "ImplicitlyDenied",
    )

    assert_simulated(simulate_iam, expectations)


def assume_request(
    iam: dict[str, Any], *, action: str, tags: dict[str, str], caller_role: str = TASK_ROLE_NAME
) -> dict[str, Any]:
    context: dict[str, Any] = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    caller = {"name": "caller", "policy": iam["task_policy"]}
    return {
        "request": {
            "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/{caller_role}/task-1",
            "action": action,
            "resource": {"resource": iam["tenant_arn"], "accountId": ACCOUNT},
            "contextVariables": context,
        },
        "identityPolicies": [caller],
        "resourcePolicy": iam["tenant_trust"],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }


def test_only_the_task_role_with_one_school_tag_may_assume_the_tenant_role(
    simulate_iam: Simulate, iam: dict[str, Any]
) -> None:
    tag = TENANT.session_tag
    expectations: dict[str, tuple[dict[str, Any], str]] = {}
    for action in ("sts:AssumeRole", "sts:TagSession"):
        for label, tags, outcome in (
            ("one school tag", {tag: "A"}, "Allowed"),
            ("no tag", {}, "ImplicitlyDenied"),
            ("empty school", {tag: ""}, "ImplicitlyDenied"),
            ("extra tag key", {tag: "A", "role": "admin"}, "ImplicitlyDenied"),
            ("wildcard school", {tag: "*"}, "ImplicitlyDenied"),
            ("separator in school", {tag: "A#B"}, "ImplicitlyDenied"),
        ):
            expectations[f"{action} {label}"] = (assume_request(iam, action=action, tags=tags), outcome)
        expectations[f"{action} another role"] = (
            assume_request(iam, action=action, tags={tag: "A"}, caller_role="some-other-role"),
            "ImplicitlyDenied",
        )

    assert_simulated(simulate_iam, expectations)


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
