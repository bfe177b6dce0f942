"""The grading service's page-cursor key as deployed: a generated Secrets Manager secret of LucaGrading,
injected by ECS, read only by the task's execution role.

GIVEN the synthesized LucaGrading template
THEN  the grading container gets the key as an ECS secret named for the service's ``cursor_keys``
      setting, never in its plain environment; the secret's value is generated (letters and digits,
      so the comma-separated list stays a list) and absent from the template; only the execution
      role may read it, and only it; its rotation finding is acknowledged with the reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from luca_infra.aws.grading import CURSOR_KEY_LENGTH, CURSOR_KEYS_ENV, setting_env
from luca_infra.definitions import PLATFORM_DEFINITION

pytestmark = pytest.mark.infra

STACK = "LucaGrading"


def _task(synthesized: Any) -> dict[str, Any]:
    _, task = synthesized.only(STACK, "AWS::ECS::TaskDefinition")
    properties: dict[str, Any] = task["Properties"]
    return properties


def _container(synthesized: Any) -> dict[str, Any]:
    (container,) = [
        c
        for c in _task(synthesized)["ContainerDefinitions"]
        if c["Name"] == PLATFORM_DEFINITION.grading.container
    ]
    return container


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_the_variable_is_the_grading_services_setting() -> None:
    # A secret the service does not read would be silently ignored (its settings ignore extras).
    assert setting_env("cursor_keys") == CURSOR_KEYS_ENV


def test_the_cursor_key_is_an_ecs_secret_of_the_grading_stack(synthesized: Any) -> None:
    container = _container(synthesized)
    (secret,) = container["Secrets"]
    secret_id, _ = synthesized.only(STACK, "AWS::SecretsManager::Secret")
    assert secret == {"Name": CURSOR_KEYS_ENV, "ValueFrom": {"Ref": secret_id}}
    assert CURSOR_KEYS_ENV not in {variable["Name"] for variable in container["Environment"]}


def test_the_key_is_generated_never_written_in_the_template(synthesized: Any) -> None:
    _, secret = synthesized.only(STACK, "AWS::SecretsManager::Secret")
    properties = secret["Properties"]
    assert "SecretString" not in properties
    assert properties["GenerateSecretString"] == {
        "ExcludePunctuation": True,
        "PasswordLength": CURSOR_KEY_LENGTH,
    }
    assert secret["UpdateReplacePolicy"] == secret["DeletionPolicy"] == "Delete"


def test_only_the_execution_role_may_read_the_key(synthesized: Any) -> None:
    secret_id, _ = synthesized.only(STACK, "AWS::SecretsManager::Secret")
    task = _task(synthesized)
    execution_role = task["ExecutionRoleArn"]["Fn::GetAtt"][0]
    readers: dict[str, set[str]] = {}
    for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = _actions(statement)
            if any(action.startswith("secretsmanager:") for action in actions):
                assert statement["Resource"] == {"Ref": secret_id}
                for role in policy["Properties"]["Roles"]:
                    readers.setdefault(role["Ref"], set()).update(actions)
    assert readers == {execution_role: {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}}
    assert task["TaskRoleArn"]["Fn::GetAtt"][0] != execution_role


def test_manual_rotation_is_acknowledged_with_its_reason(synthesized: Any) -> None:
    _, secret = synthesized.only(STACK, "AWS::SecretsManager::Secret")
    (rule,) = secret["Metadata"]["cdk_nag"]["rules_to_suppress"]
    assert rule["id"] == "AwsSolutions-SMG4"
    assert "overlap" in rule["reason"]
