"""The government sync's gRPC API as deployed: its own stack (``LucaGovSyncApi``), a Fargate service
behind the shared ALB's HTTPS listener, with a task role of its own.

GIVEN the synthesized LucaGovSyncApi (and LucaNetwork) templates
THEN  the govsync-api container starts from exactly the environment its process reads; the shared
      gRPC listener sends the service's paths to its GRPC target group; and, evaluated by a real IAM
      policy engine, its task role may start and follow the sync's own executions, read and clear its DLQ, and become one
      school at a time, and nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from luca_govsync.config import ApiSettings
from luca_infra.aws.load_balancer import GRPC_HEALTH_CHECK_PATH, GRPC_LISTENER_PORT, RULE_PRIORITIES
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_platform.contracts import roster as roster_contract

pytestmark = pytest.mark.infra

STACK = "LucaGovSyncApi"
API = PLATFORM_DEFINITION.govsync_api
GOVSYNC = PLATFORM_DEFINITION.govsync
TENANT = PLATFORM_DEFINITION.tenant_role
ACCOUNT = "111122223333"
REGION = "eu-west-1"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{GOVSYNC.state_machine_name}"
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{GOVSYNC.state_machine_name}:govsync-A-2025-T1"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{GOVSYNC.dlq_name}"
TENANT_ARN = f"arn:aws:iam::{ACCOUNT}:role/{TENANT.name}"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PLATFORM_DEFINITION.table.name}"
SERVICE_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/service-identity"
Simulate = Callable[[dict[str, dict[str, Any]]], dict[str, str]]


def _container(synthesized: Any) -> dict[str, Any]:
    _, task = synthesized.only(STACK, "AWS::ECS::TaskDefinition")
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == API.container]
    return container


def _export(synthesized: Any, name: str) -> tuple[str, Any]:
    for stack, template in synthesized.templates.items():
        for output in template.get("Outputs", {}).values():
            if output.get("Export", {}).get("Name") == name:
                return stack, output["Value"]
    raise AssertionError(f"no export {name}")


def resolve(value: Any) -> Any:
    if isinstance(value, list):
        return [resolve(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        return {**pseudo, "AWS::URLSuffix": "amazonaws.com"}[value["Ref"]]
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part)) for part in parts)
    if set(value) == {"Fn::ImportValue"}:
        assert "ServiceIdentity" in value["Fn::ImportValue"], value
        return SERVICE_KEY_ARN
    return {key: resolve(item) for key, item in value.items()}


@pytest.fixture(scope="module")
def task_policy(synthesized: Any) -> dict[str, Any]:
    (role_id,) = [
        lid
        for lid, role in synthesized.resources(STACK, "AWS::IAM::Role").items()
        if role["Properties"].get("RoleName") == API.task_role_name
    ]
    statements = [
        statement
        for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    return {"Version": "2012-10-17", "Statement": resolve(statements)}


# -- the container -------------------------------------------------------------------------------------
def test_the_container_serves_grpc_read_only_from_what_its_process_reads(synthesized: Any) -> None:
    container = _container(synthesized)
    assert container["Essential"] is True  # it is the task's service now, not grading's sidecar
    assert container["ReadonlyRootFilesystem"] is True
    assert [m["ContainerPort"] for m in container["PortMappings"]] == [API.grpc_port]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    environment = {variable["Name"]: variable["Value"] for variable in container["Environment"]}
    # Exactly what the API's process reads: it starts from this environment (tokens stand for values).
    settings = ApiSettings.from_environment(
        {name: value if isinstance(value, str) else f"<{name}>" for name, value in environment.items()}
    )
    assert settings.grpc_port == API.grpc_port
    assert settings.school_claim == PLATFORM_DEFINITION.user_pool.school_claim
    assert resolve(environment["LUCA_STATE_MACHINE_ARN"]) == STATE_MACHINE_ARN
    assert resolve(environment["LUCA_TENANT_ROLE_ARN"]) == TENANT_ARN
    # ListDeadLetters / RedriveDeadLetters read the sync's own DLQ, named as the state machine is.
    assert resolve(environment["LUCA_DLQ_URL"]) == (
        f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{GOVSYNC.dlq_name}"
    )
    for name in (
        "LUCA_TABLE_NAME",
        "LUCA_USER_POOL_ID",
        "LUCA_USER_POOL_CLIENT_ID",
        "LUCA_SERVICE_TOKEN_KEY_ID",
    ):
        assert "Fn::ImportValue" in environment[name], f"{name} must come from the stack that owns it"


def test_the_grpc_listener_routes_the_government_sync_api_to_its_own_service(synthesized: Any) -> None:
    ((group_id, group),) = synthesized.resources(STACK, "AWS::ElasticLoadBalancingV2::TargetGroup").items()
    assert group["Properties"]["Port"] == API.grpc_port
    assert group["Properties"]["ProtocolVersion"] == "GRPC"
    assert group["Properties"]["HealthCheckPath"] == GRPC_HEALTH_CHECK_PATH
    _, rule = synthesized.only(STACK, "AWS::ElasticLoadBalancingV2::ListenerRule")
    assert rule["Properties"]["Actions"] == [{"TargetGroupArn": {"Ref": group_id}, "Type": "forward"}]
    assert rule["Properties"]["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": [API.grpc_path]}}
    ]
    assert rule["Properties"]["Priority"] == RULE_PRIORITIES["grpc"]["govsync-api"]
    stack, listener = _export(synthesized, rule["Properties"]["ListenerArn"]["Fn::ImportValue"])
    assert stack == "LucaNetwork"
    listener_properties = synthesized.templates[stack]["Resources"][listener["Ref"]]["Properties"]
    assert (listener_properties["Protocol"], listener_properties["Port"]) == ("HTTPS", GRPC_LISTENER_PORT)
    _, service = synthesized.only(STACK, "AWS::ECS::Service")
    assert service["Properties"]["LoadBalancers"] == [
        {
            "ContainerName": API.container,
            "ContainerPort": API.grpc_port,
            "TargetGroupArn": {"Ref": group_id},
        }
    ]
    assert service["Properties"]["DesiredCount"] == API.min_tasks >= 2
    _, task = synthesized.only(STACK, "AWS::ECS::TaskDefinition")
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == (str(API.cpu), str(API.memory_mib))
    synthesized.template(STACK).has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": API.min_tasks, "MaxCapacity": API.max_tasks},
    )


def test_the_stack_names_the_state_machine_instead_of_importing_it(synthesized: Any) -> None:
    assert '"LucaGovSync:' not in json.dumps(synthesized.templates[STACK])


# -- its task role, evaluated -----------------------------------------------------------------------
def test_the_task_role_starts_and_follows_only_the_syncs_executions_and_becomes_one_school(
    simulate_iam: Simulate, iam_case: Callable[..., dict[str, Any]], task_policy: dict[str, Any]
) -> None:
    tag = TENANT.session_tag

    def request(action: str, resource: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
        return iam_case(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/{API.task_role_name}/task-1",
            task_policy,
            ACCOUNT,
            action,
            resource,
            context,
        )

    other_machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:other"
    expectations: dict[str, tuple[dict[str, Any], str]] = {
        "start a sync": (request("states:StartExecution", STATE_MACHINE_ARN), "Allowed"),
        "start another state machine": (request("states:StartExecution", other_machine), "ImplicitlyDenied"),
        "follow a sync": (request("states:DescribeExecution", EXECUTION_ARN), "Allowed"),
        "stop a sync": (request("states:StopExecution", EXECUTION_ARN), "ImplicitlyDenied"),
        "read the sync's DLQ": (request("sqs:ReceiveMessage", DLQ_ARN), "Allowed"),
        "delete a redriven letter": (request("sqs:DeleteMessage", DLQ_ARN), "Allowed"),
        "send into the sync's DLQ": (request("sqs:SendMessage", DLQ_ARN), "ImplicitlyDenied"),
        "read another queue": (
            request("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:luca-student-events-dlq"),
            "ImplicitlyDenied",
        ),
        "become one school": (
            request("sts:AssumeRole", TENANT_ARN, {f"aws:RequestTag/{tag}": "A", "aws:TagKeys": [tag]}),
            "Allowed",
        ),
    }
    own_key = roster_contract.student_pk("A", "1")
    for action in (*TENANT.actions, "dynamodb:Scan"):
        expectations[f"{action} with its own identity"] = (
            request(action, TABLE_ARN, {"dynamodb:LeadingKeys": [own_key]}),
            "ImplicitlyDenied",
        )

    results = simulate_iam({name: case for name, (case, _) in expectations.items()})

    wrong = {name: (results[name], want) for name, (_, want) in expectations.items() if results[name] != want}
    assert not wrong, wrong


def test_the_task_role_verifies_service_tokens_and_never_signs_one(task_policy: dict[str, Any]) -> None:
    # KMS also needs the key's own policy, so this is read from the template, not simulated.
    kms = [
        statement
        for statement in task_policy["Statement"]
        if any(str(action).startswith("kms:") for action in _as_list(statement["Action"]))
    ]
    assert [(set(_as_list(s["Action"])), s["Resource"]) for s in kms] == [
        (set(PLATFORM_DEFINITION.service_identity.verify_actions), SERVICE_KEY_ARN)
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
