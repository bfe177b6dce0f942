"""The synthesized app's IAM, read for a policy engine: roles by name, their policies with the
intrinsics resolved (a fake account and region), and named simulations checked in one call.

Shared by the isolation tests (``test_isolation``, ``test_batch_access``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from luca_infra.definitions import PLATFORM_DEFINITION

DATA = "LucaData"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
# The session fixture ``simulate_iam`` (conftest): named requests in, the policy engine's decisions out.
Simulate = Callable[[dict[str, dict[str, Any]]], dict[str, str]]
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PLATFORM_DEFINITION.table.name}"
SERVICE_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/service-identity"


def role_named(synthesized: Any, stack: str, name: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (lid, role)
        for lid, role in synthesized.resources(stack, "AWS::IAM::Role").items()
        if role["Properties"].get("RoleName") == name
    ]
    return found


def resolve(value: Any) -> Any:
    """Resolve the intrinsics these policies use, with a fake account and region."""
    if isinstance(value, list):
        return [resolve(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}[value["Ref"]]
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part)) for part in parts)
    if set(value) == {"Fn::ImportValue"}:
        # A grading policy imports the identity stack's service-identity key, nothing else.
        assert value["Fn::ImportValue"].startswith("LucaIdentity:"), value
        assert "ServiceIdentity" in value["Fn::ImportValue"], value
        return SERVICE_KEY_ARN
    return {key: resolve(item) for key, item in value.items()}


def policy_of(synthesized: Any, stack: str, role_logical_id: str) -> dict[str, Any]:
    policies = [
        policy["Properties"]["PolicyDocument"]
        for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
    ]
    assert len(policies) == 1, f"expected one policy on {role_logical_id}"
    return policies[0]


def assert_simulated(simulate_iam: Simulate, expectations: dict[str, tuple[dict[str, Any], str]]) -> None:
    """Every named request gets its expected decision from the policy engine."""
    results = simulate_iam({name: request for name, (request, _) in expectations.items()})
    wrong = {
        name: (results[name], expected)
        for name, (_, expected) in expectations.items()
        if results[name] != expected
    }
    assert not wrong, wrong


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
