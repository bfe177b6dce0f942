"""The grade processor's batch sessions as deployed: the batch role, narrowed by the session policy the
processor passes, evaluated by a real IAM policy engine (moto evaluates neither).

GIVEN the batch role (``LucaData``) exactly as synthesized, and the session policy
      ``luca_platform.batch_access`` builds for a batch's schools
WHEN the session asks for keys of each school of the batch, of a school outside it (one whose id
     merely starts like a batch school's among them), of several schools at once, or for a call the
     processor never makes
THEN only the batch's schools' keys are allowed, on the table and on every index; a request naming
     one key outside the batch is refused whole; and only the processor and operator roles may
     assume the role.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from luca_infra.definitions import PLATFORM_DEFINITION
from luca_ingest.adapters.dynamodb_store import BATCH_ACTIONS
from luca_platform.batch_access import group_schools, session_policy
from luca_platform.contracts import roster
from luca_platform.contracts import rules as rules_contract
from luca_platform.table import keys
from synthesized_iam import (
    ACCOUNT,
    DATA,
    TABLE_ARN,
    Simulate,
    as_list,
    assert_simulated,
    policy_of,
    resolve,
    role_named,
)

pytestmark = pytest.mark.infra

BATCH = PLATFORM_DEFINITION.batch_role
BATCH_SCHOOLS = ("school-a", "school-b", "liceo-7")
OUTSIDE = ("school-c", "school-ab", "liceo-70")  # "school-ab" and "liceo-70" start like batch schools


@pytest.fixture(scope="module")
def batch(synthesized: Any) -> dict[str, Any]:
    logical_id, role = role_named(synthesized, DATA, BATCH.name)
    return {
        "policy": resolve(policy_of(synthesized, DATA, logical_id)),
        "trust": resolve(role["Properties"]["AssumeRolePolicyDocument"]),
    }


def _request(
    batch: dict[str, Any], *, action: str, resource: str, leading_keys: list[str], schools: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "request": {
            "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/{BATCH.name}/luca-batch-{len(schools)}-schools",
            "action": action,
            "resource": {"resource": resource, "accountId": ACCOUNT},
            "contextVariables": {"dynamodb:LeadingKeys": leading_keys},
        },
        "sessionPolicy": json.loads(session_policy(schools, BATCH_ACTIONS)),
        "identityPolicies": [{"name": "batch", "policy": batch["policy"]}],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }


def test_the_processor_asks_for_exactly_what_the_batch_role_allows() -> None:
    assert set(BATCH_ACTIONS) == set(BATCH.actions)


def test_the_batch_role_allows_its_actions_on_school_keys_only(batch: dict[str, Any]) -> None:
    (statement,) = batch["policy"]["Statement"]
    assert sorted(as_list(statement["Action"])) == sorted(BATCH.actions)
    assert statement["Resource"] == [TABLE_ARN, f"{TABLE_ARN}/index/*"]
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [BATCH.leading_key_pattern]}
    }


def test_only_the_processor_and_the_operators_may_assume_the_batch_role(batch: dict[str, Any]) -> None:
    (statement,) = batch["trust"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"  # no session tags: the session policy scopes it
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": [
                f"arn:aws:iam::{ACCOUNT}:role/{name}" for name in PLATFORM_DEFINITION.batch_workload_roles
            ]
        }
    }


def test_a_batch_session_reaches_its_schools_keys_and_no_other_schools(
    simulate_iam: Simulate, batch: dict[str, Any]
) -> None:
    def keys_of(school: str) -> list[str]:
        return [roster.student_pk(school, "st-1"), roster.catalog_pk(school), rules_contract.rules_pk(school)]

    expectations: dict[str, tuple[dict[str, Any], str]] = {}
    for action in BATCH_ACTIONS:
        for school in (*BATCH_SCHOOLS, *OUTSIDE):
            outcome = "Allowed" if school in BATCH_SCHOOLS else "ImplicitlyDenied"
            for key in keys_of(school):
                expectations[f"{action} {key}"] = (
                    _request(
                        batch, action=action, resource=TABLE_ARN, leading_keys=[key], schools=BATCH_SCHOOLS
                    ),
                    outcome,
                )
        # One call naming every batch school at once (BatchGetItem, TransactWriteItems' puts) is allowed;
        # the same call with one key outside the batch is refused whole.
        every = [key for school in BATCH_SCHOOLS for key in keys_of(school)]
        expectations[f"{action} every batch school"] = (
            _request(batch, action=action, resource=TABLE_ARN, leading_keys=every, schools=BATCH_SCHOOLS),
            "Allowed",
        )
        expectations[f"{action} batch schools and one outside"] = (
            _request(
                batch,
                action=action,
                resource=TABLE_ARN,
                leading_keys=[*every, roster.student_pk("school-ab", "st-1")],
                schools=BATCH_SCHOOLS,
            ),
            "ImplicitlyDenied",
        )
    # Not a school's key at all, and a key that is only a school's name without the separator.
    for key in ("PLATFORM#config", f"SCHOOL{keys.SEP}school-a"):
        expectations[f"PutItem {key}"] = (
            _request(
                batch,
                action="dynamodb:PutItem",
                resource=TABLE_ARN,
                leading_keys=[key],
                schools=BATCH_SCHOOLS,
            ),
            "ImplicitlyDenied",
        )
    assert_simulated(simulate_iam, expectations)


def test_a_batch_session_may_not_do_what_the_processor_never_does(
    simulate_iam: Simulate, batch: dict[str, Any]
) -> None:
    own = [roster.student_pk("school-a", "st-1")]
    expectations = {
        action: (
            _request(batch, action=action, resource=TABLE_ARN, leading_keys=own, schools=BATCH_SCHOOLS),
            "ImplicitlyDenied",
        )
        for action in ("dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:Scan")
    }
    assert_simulated(simulate_iam, expectations)


def test_schools_that_do_not_fit_one_session_policy_are_split_and_each_group_stays_scoped(
    simulate_iam: Simulate, batch: dict[str, Any]
) -> None:
    schools = [f"liceo-bicentenario-{n:03d}-providencia-santiago"[:40] for n in range(60)]
    groups = group_schools(schools, BATCH_ACTIONS)
    assert len(groups) > 1
    assert sorted(school for group in groups for school in group) == sorted(schools)
    first, second = groups[0], groups[1]
    expectations = {
        "own group": (
            _request(
                batch,
                action="dynamodb:PutItem",
                resource=TABLE_ARN,
                leading_keys=[roster.student_pk(first[0], "st-1")],
                schools=first,
            ),
            "Allowed",
        ),
        "another group": (
            _request(
                batch,
                action="dynamodb:PutItem",
                resource=TABLE_ARN,
                leading_keys=[roster.student_pk(second[0], "st-1")],
                schools=first,
            ),
            "ImplicitlyDenied",
        ),
    }
    assert_simulated(simulate_iam, expectations)
