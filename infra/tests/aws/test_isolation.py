"""Tenant isolation as deployed: the synthesized roles, read from the template and evaluated by a real
IAM policy evaluator (moto ignores Conditions, see LOCAL-ENGINE.md).

GIVEN the tenant role (``LucaData``), the grading task role (``LucaGrading``) and their policies
      exactly as synthesized
WHEN a session tagged with one school asks for keys of that school, another school, or a school
     whose id merely starts the same way; or a role asks to become a school
THEN only its own school's keys are allowed, on the table and on every index; and only the named
     workload roles of this account, with one well-formed school tag, may become a school.
"""

from __future__ import annotations

from typing import Any

import pytest

from luca_grading.adapters import table_design as grading_td
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_platform.contracts import grades as grades_contract
from luca_platform.contracts import roster as roster_contract
from luca_platform.contracts import rules as rules_contract
from luca_platform.table import keys
from synthesized_iam import (
    ACCOUNT,
    DATA,
    SERVICE_KEY_ARN,
    TABLE_ARN,
    Simulate,
    assert_simulated,
    resolve,
)
from synthesized_iam import as_list as _as_list
from synthesized_iam import policy_of as _policy_of
from synthesized_iam import role_named as _role_named

pytestmark = pytest.mark.infra

GRADING = "LucaGrading"
OTHER_ACCOUNT = "444455556666"
TENANT = PLATFORM_DEFINITION.tenant_role
GRADING_TASK_ROLE = PLATFORM_DEFINITION.grading.task_role_name
SCHOOL_WORKLOAD_ROLES = PLATFORM_DEFINITION.school_workload_roles
TABLE = PLATFORM_DEFINITION.table
TENANT_ARN = f"arn:aws:iam::{ACCOUNT}:role/{TENANT.name}"
SCHOOL_TAG = f"aws:PrincipalTag/{TENANT.session_tag}"
# What only the tenant role may do on the table (the stream's read actions are the lake pipe's).
TABLE_DATA_ACTIONS = {*TENANT.actions, "dynamodb:Scan", "dynamodb:*"}


# -- reading the synthesized policies ---------------------------------------------------------------
@pytest.fixture(scope="module")
def iam(synthesized: Any) -> dict[str, Any]:
    tenant, tenant_role = _role_named(synthesized, DATA, TENANT.name)
    task, _ = _role_named(synthesized, GRADING, GRADING_TASK_ROLE)
    return {
        "tenant_policy": resolve(_policy_of(synthesized, DATA, tenant)),
        "tenant_trust": resolve(tenant_role["Properties"]["AssumeRolePolicyDocument"]),
        "task_policy": resolve(_policy_of(synthesized, GRADING, task)),
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


def test_tenant_role_is_the_defined_role(synthesized: Any) -> None:
    synthesized.template(DATA).has_resource_properties(
        "AWS::IAM::Role",
        {"RoleName": TENANT.name, "MaxSessionDuration": max(TENANT.session_duration_seconds, 3600)},
    )


def test_task_role_may_only_assume_the_tenant_role_verify_service_tokens_and_write_traces(
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
    }
    for statement in statements:
        statement_actions = set(_as_list(statement["Action"]))
        if any(action.startswith("sts:") for action in statement_actions):
            assert statement["Resource"] == TENANT_ARN
            assert statement_actions == {"sts:AssumeRole", "sts:TagSession"}
        if any(action.startswith("kms:") for action in statement_actions):
            # It verifies service tokens; it can never mint one (no kms:Sign).
            assert statement["Resource"] == SERVICE_KEY_ARN
            assert statement_actions == set(PLATFORM_DEFINITION.service_identity.verify_actions)


def test_no_role_in_any_stack_touches_the_table_data_except_the_tenant_and_batch_roles(
    synthesized: Any, iam: dict[str, Any]
) -> None:
    holders = {
        (stack, role["Ref"])
        for stack in synthesized.templates
        for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if TABLE_DATA_ACTIONS & set(_as_list(statement["Action"]))
        for role in policy["Properties"]["Roles"]
    }
    (batch_logical_id, _) = _role_named(synthesized, DATA, PLATFORM_DEFINITION.batch_role.name)
    assert holders == {(DATA, iam["tenant_logical_id"]), (DATA, batch_logical_id)}


def test_tenant_trust_admits_the_named_workload_roles_of_this_account_with_one_school_tag(
    iam: dict[str, Any],
) -> None:
    (statement,) = iam["tenant_trust"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": [f"arn:aws:iam::{ACCOUNT}:role/{name}" for name in SCHOOL_WORKLOAD_ROLES]
        },
        "StringLike": {f"aws:RequestTag/{TENANT.session_tag}": "?*"},
        "ForAllValues:StringEquals": {"aws:TagKeys": [TENANT.session_tag]},
        "StringNotLike": {f"aws:RequestTag/{TENANT.session_tag}": ["*${*}*", "*${?}*", "*#*"]},
    }


def test_every_admitted_name_is_a_workload_role_that_may_assume_the_tenant_role(synthesized: Any) -> None:
    # Each admitted name is exactly one role of the app, and that role's own policy asks for the
    # tenant role (an admitted name nobody uses would be a door left open).
    named = {
        role["Properties"]["RoleName"]: (stack, lid)
        for stack in synthesized.templates
        for lid, role in synthesized.resources(stack, "AWS::IAM::Role").items()
        if isinstance(role["Properties"].get("RoleName"), str)
    }
    for name in SCHOOL_WORKLOAD_ROLES:
        assert name in named, f"no role is named {name}"
        stack, lid = named[name]
        assumed = [
            resolve(statement["Resource"])
            for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
            if {"Ref": lid} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if set(_as_list(statement["Action"])) == {"sts:AssumeRole", "sts:TagSession"}
        ]
        assert assumed == [TENANT_ARN], name


def test_service_is_told_the_tenant_role(synthesized: Any) -> None:
    _, task = synthesized.only(GRADING, "AWS::ECS::TaskDefinition")
    (grading,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "grading"]
    environment = {variable["Name"]: variable["Value"] for variable in grading["Environment"]}
    assert resolve(environment["LUCA_TENANT_ROLE_ARN"]) == TENANT_ARN


# -- evaluated by a policy engine --------------------------------------------------------------------
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
    iam: dict[str, Any],
    *,
    action: str,
    tags: dict[str, str],
    caller_role: str = GRADING_TASK_ROLE,
    caller_account: str = ACCOUNT,
) -> dict[str, Any]:
    caller_arn = f"arn:aws:iam::{caller_account}:role/{caller_role}"
    context: dict[str, Any] = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    context["aws:PrincipalArn"] = caller_arn
    caller = {"name": "caller", "policy": iam["task_policy"]}
    return {
        "request": {
            "principal": f"arn:aws:sts::{caller_account}:assumed-role/{caller_role}/task-1",
            "action": action,
            "resource": {"resource": TENANT_ARN, "accountId": ACCOUNT},
            "contextVariables": context,
        },
        "identityPolicies": [caller],
        "resourcePolicy": iam["tenant_trust"],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }


def test_only_a_named_workload_role_with_one_school_tag_may_assume_the_tenant_role(
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
        for name in SCHOOL_WORKLOAD_ROLES:
            expectations[f"{action} as {name}"] = (
                assume_request(iam, action=action, tags={tag: "A"}, caller_role=name),
                "Allowed",
            )
        for label, role, account in (
            ("another role", "some-other-role", ACCOUNT),
            ("a role whose name starts like a workload's", f"{GRADING_TASK_ROLE}-copy", ACCOUNT),
            ("a workload's name in another account", GRADING_TASK_ROLE, OTHER_ACCOUNT),
        ):
            expectations[f"{action} as {label}"] = (
                assume_request(iam, action=action, tags={tag: "A"}, caller_role=role, caller_account=account),
                "ImplicitlyDenied",
            )

    assert_simulated(simulate_iam, expectations)
