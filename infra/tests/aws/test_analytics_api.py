"""The analytics query service as deployed: its own stack (``LucaAnalyticsApi``), a Fargate service
behind the shared ALB, Athena in the LucaAnalytics workgroup, the pseudonymisation key as an ECS secret.

GIVEN the synthesized LucaAnalyticsApi (and LucaAnalytics, LucaNetwork, LucaGrading, LucaEdge) templates
THEN  the analytics-api container listens on the defined ports with the environment its process reads
      and the key as a secret; the shared ALB routes the analytics REST and gRPC paths to it; API
      Gateway's authorized proxy reaches those paths; and, evaluated by a real IAM policy engine, its
      task role may query only in the workgroup, read only the lake's grades prefix and Athena's
      results, use the lake key only through S3, while the grading task role may do none of it and no
      task role may read the key's secret.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from typing import Any

import pytest

from luca_analytics.adapters.lake_schema import LAKE_PREFIX
from luca_analytics.config import AnalyticsSettings
from luca_analytics.entrypoints.main import ProcessSettings
from luca_infra.aws.analytics_api import ANALYTICS_API_DOCKERFILE
from luca_infra.aws.app import REPO_ROOT
from luca_infra.aws.edge import ROUTE_PREFIX
from luca_infra.aws.load_balancer import GRPC_HEALTH_CHECK_PATH, REST_LISTENER_PORT
from luca_infra.definitions import PLATFORM_DEFINITION

pytestmark = pytest.mark.infra

STACK = "LucaAnalyticsApi"
SERVICE = PLATFORM_DEFINITION.analytics_api
ANALYTICS = PLATFORM_DEFINITION.analytics_aws
ACCOUNT = "111122223333"
REGION = "eu-west-1"
LAKE_BUCKET = f"{ANALYTICS.lake_bucket_prefix}-{ACCOUNT}-{REGION}"
RESULTS_BUCKET = f"{ANALYTICS.athena_results_bucket_prefix}-{ACCOUNT}-{REGION}"
LAKE_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/lake-key"
SERVICE_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/service-identity"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{ANALYTICS.pseudonym_key_secret_name}-AbCdEf"
WORKGROUP_ARN = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{ANALYTICS.workgroup_name}"
TENANT_ARN = f"arn:aws:iam::{ACCOUNT}:role/{PLATFORM_DEFINITION.tenant_role.name}"
ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:s3:arn"
Simulate = Callable[[dict[str, dict[str, Any]]], dict[str, str]]


# -- reading the template ------------------------------------------------------------------------------
def _analytics_task(synthesized: Any) -> tuple[str, dict[str, Any]]:
    found: tuple[str, dict[str, Any]] = synthesized.only(STACK, "AWS::ECS::TaskDefinition")
    return found


def _container(synthesized: Any) -> dict[str, Any]:
    _, task = _analytics_task(synthesized)
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == SERVICE.container]
    return container


def _role_named(synthesized: Any, stack: str, name: str) -> str:
    (found,) = [
        lid
        for lid, role in synthesized.resources(stack, "AWS::IAM::Role").items()
        if role["Properties"].get("RoleName") == name
    ]
    return found


def _execution_role(synthesized: Any) -> str:
    _, task = _analytics_task(synthesized)
    role: str = task["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    return role


def _statements(synthesized: Any, stack: str, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _export(synthesized: Any, import_name: str) -> tuple[str, Any]:
    for stack, template in synthesized.templates.items():
        for output in template.get("Outputs", {}).values():
            if output.get("Export", {}).get("Name") == import_name:
                return stack, output["Value"]
    raise AssertionError(f"no export {import_name}")


def resolve(value: Any, synthesized: Any) -> Any:
    """The intrinsics these policies use, with a fake account and region."""
    if isinstance(value, list):
        return [resolve(item, synthesized) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        return pseudo[value["Ref"]]
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part, synthesized)) for part in parts)
    if set(value) == {"Fn::ImportValue"}:
        stack, exported = _export(synthesized, value["Fn::ImportValue"])
        if stack == "LucaAnalytics" and "LakeKey" in json.dumps(exported):
            return LAKE_KEY_ARN
        if stack == "LucaIdentity" and "ServiceIdentity" in json.dumps(exported):
            return SERVICE_KEY_ARN
        raise AssertionError(f"unexpected import {value}")
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
    return {key: resolve(item, synthesized) for key, item in value.items()}


def policy_of(synthesized: Any, stack: str, role_name: str) -> dict[str, Any]:
    statements = _statements(synthesized, stack, _role_named(synthesized, stack, role_name))
    return {"Version": "2012-10-17", "Statement": resolve(statements, synthesized)}


# -- the container --------------------------------------------------------------------------------------
def test_the_container_listens_on_the_defined_ports_read_only_and_essential(synthesized: Any) -> None:
    container = _container(synthesized)
    assert [m["ContainerPort"] for m in container["PortMappings"]] == [
        SERVICE.rest_port,
        SERVICE.grpc_port,
    ]
    assert container["Essential"] is True
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert f"{SERVICE.rest_port}{SERVICE.health_path}" in " ".join(container["HealthCheck"]["Command"])


def test_its_environment_is_what_the_process_reads_with_athena_as_the_lake(synthesized: Any) -> None:
    container = _container(synthesized)
    environment = {variable["Name"]: variable["Value"] for variable in container["Environment"]}
    # The process starts from exactly this environment (tokens stand for deploy-time values), plus
    # the key from the task's secrets.
    plain = {name: value if isinstance(value, str) else f"<{name}>" for name, value in environment.items()}
    settings = AnalyticsSettings.from_environment({**plain, "LUCA_PSEUDONYM_KEY": "from-the-secret"})
    process = ProcessSettings.from_environment(plain)

    assert (settings.athena_workgroup, settings.athena_database, settings.athena_table) == (
        ANALYTICS.workgroup_name,
        ANALYTICS.glue_database,
        ANALYTICS.glue_table,
    )
    assert (settings.lake_bucket, settings.lake_directory) == ("", "")
    assert settings.grpc_port == SERVICE.grpc_port
    assert process.rest_port == SERVICE.rest_port
    assert process.otel_exporter == "otlp"
    assert settings.school_claim == PLATFORM_DEFINITION.user_pool.school_claim
    assert environment["LUCA_AWS_REGION"] == {"Ref": "AWS::Region"}
    for name in (
        "LUCA_TABLE_NAME",
        "LUCA_USER_POOL_ID",
        "LUCA_USER_POOL_CLIENT_ID",
        "LUCA_SERVICE_TOKEN_KEY_ID",
    ):
        assert "Fn::ImportValue" in environment[name], f"{name} must come from the stack that owns it"
    assert resolve(environment["LUCA_TENANT_ROLE_ARN"], synthesized) == TENANT_ARN
    assert "LUCA_PSEUDONYM_KEY" not in environment


def test_the_pseudonymisation_key_is_an_ecs_secret_from_the_analytics_stack(synthesized: Any) -> None:
    (secret,) = _container(synthesized)["Secrets"]
    assert secret["Name"] == "LUCA_PSEUDONYM_KEY"
    stack, exported = _export(synthesized, secret["ValueFrom"]["Fn::ImportValue"])
    assert stack == "LucaAnalytics"
    secret_id, _ = synthesized.only("LucaAnalytics", "AWS::SecretsManager::Secret")
    assert exported == {"Ref": secret_id}


def test_only_the_analytics_execution_role_may_read_the_secret(synthesized: Any) -> None:
    # LucaGrading's own secret (its cursor key) is read by its execution role: not this one.
    grading_secrets = [
        {"Ref": lid} for lid in synthesized.resources("LucaGrading", "AWS::SecretsManager::Secret")
    ]
    readers = {
        (stack, role["Ref"])
        for stack in (STACK, "LucaGrading", "LucaGovSyncApi")
        for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(action.startswith("secretsmanager:") for action in _actions(statement))
        and statement["Resource"] not in grading_secrets
        for role in policy["Properties"]["Roles"]
    }
    assert readers == {(STACK, _execution_role(synthesized))}


def test_the_image_is_built_from_an_allowlisted_context(synthesized: Any) -> None:
    assets = json.loads((synthesized.outdir / f"{STACK}.assets.json").read_text())
    ((image,),) = [list(assets["dockerImages"].values())]
    assert image["source"]["dockerFile"] == ANALYTICS_API_DOCKERFILE
    assert image["source"]["platform"] == "linux/amd64"
    staged = synthesized.outdir / image["source"]["directory"]
    assert {path.name for path in staged.iterdir()} == {"services", "libs", "proto"}
    assert {path.name for path in (staged / "services").iterdir()} == {"analytics"}
    assert (staged / ANALYTICS_API_DOCKERFILE).is_file()
    assert (staged / "services/analytics/requirements.lock").is_file()
    for absent in ("services/analytics/tests", "services/grading", ".venv", "infra", "node_modules"):
        assert not (staged / absent).exists(), absent
    dockerfile = (REPO_ROOT / ANALYTICS_API_DOCKERFILE).read_text()
    assert '["python", "-m", "luca_analytics.entrypoints.main"]' in dockerfile


# -- the service and the load balancer ---------------------------------------------------------------
def test_its_own_service_keeps_warm_tasks_behind_both_target_groups(synthesized: Any) -> None:
    task_id, task = _analytics_task(synthesized)
    assert task["Properties"]["Cpu"] == str(SERVICE.cpu)
    assert task["Properties"]["Memory"] == str(SERVICE.memory_mib)
    assert task["Properties"]["TaskRoleArn"] == {
        "Fn::GetAtt": [_role_named(synthesized, STACK, SERVICE.task_role_name), "Arn"]
    }
    _, service = synthesized.only(STACK, "AWS::ECS::Service")
    assert service["Properties"]["TaskDefinition"] == {"Ref": task_id}
    assert service["Properties"]["DesiredCount"] == SERVICE.min_tasks >= 2
    targets = {(t["ContainerName"], t["ContainerPort"]) for t in service["Properties"]["LoadBalancers"]}
    assert targets == {
        (SERVICE.container, SERVICE.rest_port),
        (SERVICE.container, SERVICE.grpc_port),
    }
    synthesized.template(STACK).has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": SERVICE.min_tasks, "MaxCapacity": SERVICE.max_tasks},
    )


def _listener_rule_to(synthesized: Any, port: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The target group on ``port``, the one rule forwarding to it, and that rule's (shared) listener."""
    groups = synthesized.resources(STACK, "AWS::ElasticLoadBalancingV2::TargetGroup")
    (group_id,) = [lid for lid, g in groups.items() if g["Properties"]["Port"] == port]
    (rule,) = [
        r["Properties"]
        for r in synthesized.resources(STACK, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if r["Properties"]["Actions"] == [{"TargetGroupArn": {"Ref": group_id}, "Type": "forward"}]
    ]
    stack, listener = _export(synthesized, rule["ListenerArn"]["Fn::ImportValue"])
    assert stack == "LucaNetwork"
    listeners = synthesized.resources(stack, "AWS::ElasticLoadBalancingV2::Listener")
    return groups[group_id]["Properties"], rule, listeners[listener["Ref"]]["Properties"]


def test_the_rest_listener_sends_the_analytics_path_to_its_target_group(synthesized: Any) -> None:
    group, rule, listener = _listener_rule_to(synthesized, SERVICE.rest_port)
    assert listener["Port"] == REST_LISTENER_PORT
    assert listener["Protocol"] == "HTTP"
    assert rule["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": [SERVICE.rest_path]}}
    ]
    assert group["Protocol"] == "HTTP"
    assert group["HealthCheckPath"] == SERVICE.health_path == "/healthz"
    assert group.get("ProtocolVersion") != "GRPC"


def test_the_grpc_listener_sends_the_analytics_service_to_its_target_group(synthesized: Any) -> None:
    group, rule, listener = _listener_rule_to(synthesized, SERVICE.grpc_port)
    assert listener["Protocol"] == "HTTPS"
    assert rule["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": [SERVICE.grpc_path]}}
    ]
    assert group["ProtocolVersion"] == "GRPC"
    assert group["HealthCheckPath"] == GRPC_HEALTH_CHECK_PATH
    # Rule priorities on one listener must differ (CloudFormation refuses duplicates), whichever
    # service's stack adds the rule.
    priorities = [
        r["Properties"]["Priority"]
        for stack in synthesized.templates
        for r in synthesized.resources(stack, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if r["Properties"]["ListenerArn"] == rule["ListenerArn"]
    ]
    assert len(priorities) == len(set(priorities)) >= 3


def test_the_tasks_accept_only_the_albs_traffic_on_their_ports(synthesized: Any) -> None:
    (group_id,) = synthesized.resources(STACK, "AWS::EC2::SecurityGroup")
    _, balancer = synthesized.only("LucaNetwork", "AWS::ElasticLoadBalancingV2::LoadBalancer")
    (balancer_group,) = balancer["Properties"]["SecurityGroups"]
    ingress = synthesized.resources(STACK, "AWS::EC2::SecurityGroupIngress").values()
    to_analytics = {
        (
            rule["Properties"]["FromPort"],
            json.dumps(_export(synthesized, rule["Properties"]["SourceSecurityGroupId"]["Fn::ImportValue"])),
        )
        for rule in ingress
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    }
    assert {port for port, _ in to_analytics} == {SERVICE.rest_port, SERVICE.grpc_port}
    assert {source for _, source in to_analytics} == {json.dumps(["LucaNetwork", balancer_group])}


def test_the_edge_sends_reports_through_the_authorizer_and_the_vpc_link(synthesized: Any) -> None:
    # /v1/analytics/{report} is served by the edge's authorized /v1/{proxy+} route (no resource of its
    # own is needed), whose integration keeps the path, so the ALB's rule matches it.
    methods = synthesized.resources("LucaEdge", "AWS::ApiGateway::Method").values()
    (proxy,) = [m["Properties"] for m in methods if m["Properties"]["HttpMethod"] == "ANY"]
    assert proxy["AuthorizationType"] == "CUSTOM"  # the edge authorizer
    assert proxy["ApiKeyRequired"] is True
    assert proxy["Integration"]["ConnectionType"] == "VPC_LINK"
    assert proxy["Integration"]["Uri"]["Fn::Join"][1][-1].endswith(
        f":{REST_LISTENER_PORT}/{ROUTE_PREFIX}/{{proxy}}"
    )
    for report in ("subject-averages", "students-below-passing", "behavior-trend", "grade-distribution"):
        assert fnmatch.fnmatchcase(f"/{ROUTE_PREFIX}/analytics/{report}", SERVICE.rest_path)
    assert not fnmatch.fnmatchcase(f"/{ROUTE_PREFIX}/evaluations", SERVICE.rest_path)


def test_the_analytics_stack_never_references_the_query_service(synthesized: Any) -> None:
    # LucaAnalytics deploys first; LucaAnalyticsApi takes two things from it (key, secret) and
    # nothing goes the other way, so the stacks cannot form a cycle.
    assert STACK not in json.dumps(synthesized.templates["LucaAnalytics"])
    imported = {
        name.split(":")[0]
        for name in json.dumps(synthesized.templates[STACK]).split('"Fn::ImportValue": "')[1:]
        for name in [name.split('"')[0]]
    }
    assert "LucaAnalytics" in imported
    # The grading stack takes nothing from the lake.
    assert "LucaAnalytics:" not in json.dumps(synthesized.templates["LucaGrading"])


def test_the_lake_key_is_usable_only_through_s3_for_two_buckets(synthesized: Any) -> None:
    (statement,) = [
        st
        for st in policy_of(synthesized, STACK, SERVICE.task_role_name)["Statement"]
        if any(action.startswith("kms:") and action != "kms:GetPublicKey" for action in _actions(st))
        and st["Resource"] == LAKE_KEY_ARN
    ]
    assert sorted(_actions(statement)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        "ArnLike": {
            ENCRYPTION_CONTEXT: [
                f"arn:aws:s3:::{LAKE_BUCKET}",
                f"arn:aws:s3:::{LAKE_BUCKET}/{LAKE_PREFIX}/*",
                f"arn:aws:s3:::{RESULTS_BUCKET}",
                f"arn:aws:s3:::{RESULTS_BUCKET}/*",
            ]
        },
    }


# -- least privilege, evaluated ----------------------------------------------------------------------
def lake_key_policy(synthesized: Any) -> dict[str, Any]:
    """The lake key's own policy as deployed (KMS needs the key policy to admit IAM policies)."""
    _, key = synthesized.only("LucaAnalytics", "AWS::KMS::Key")
    policy: dict[str, Any] = resolve(key["Properties"]["KeyPolicy"], synthesized)
    return policy


def without_encryption_context(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy minus its ``kms:EncryptionContext:aws:s3:arn`` conditions, which iam-simulate
    cannot evaluate (it substitutes only ``/``-style variables in condition keys); that condition is
    asserted on the template instead (``test_the_lake_key_is_usable_only_through_s3_for_two_buckets``)."""
    statements = []
    for statement in policy["Statement"]:
        condition = {
            operator: {key: value for key, value in keys.items() if key != ENCRYPTION_CONTEXT}
            for operator, keys in statement.get("Condition", {}).items()
        }
        condition = {operator: keys for operator, keys in condition.items() if keys}
        statements.append({**statement, "Condition": condition} if condition else statement)
    return {**policy, "Statement": statements}


def request(
    policy: dict[str, Any],
    action: str,
    resource: str,
    context: dict[str, Any] | None = None,
    resource_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    simulation: dict[str, Any] = {
        "request": {
            "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/some-task-role/task-1",
            "action": action,
            "resource": {"resource": resource, "accountId": ACCOUNT},
            "contextVariables": context or {},
        },
        "identityPolicies": [{"name": "task", "policy": policy}],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }
    if resource_policy is not None:
        simulation["resourcePolicy"] = resource_policy
    return simulation


def _lake_requests(
    policy: dict[str, Any], key_policy: dict[str, Any]
) -> dict[str, tuple[dict[str, Any], str]]:
    """Every grant the query service needs, each next to a request just outside it."""
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    lake_arn = f"arn:aws:s3:::{LAKE_BUCKET}"
    results_arn = f"arn:aws:s3:::{RESULTS_BUCKET}"
    school_object = f"{lake_arn}/{LAKE_PREFIX}/school_id=school-a/year=2025/month=03/part-0.parquet"
    glue = f"arn:aws:glue:{REGION}:{ACCOUNT}"
    cases: dict[str, tuple[dict[str, Any], str]] = {}
    for action in (
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
    ):
        cases[f"{action} in the workgroup"] = (request(policy, action, WORKGROUP_ARN), "Allowed")
        cases[f"{action} in primary"] = (
            request(policy, action, f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary"),
            "ImplicitlyDenied",
        )
    cases["athena:CreatePreparedStatement"] = (
        request(policy, "athena:CreatePreparedStatement", WORKGROUP_ARN),
        "ImplicitlyDenied",
    )
    for action in ("glue:GetTable", "glue:GetPartitions"):
        cases[f"{action} the lake table"] = (
            request(policy, action, f"{glue}:table/{ANALYTICS.glue_database}/{ANALYTICS.glue_table}"),
            "Allowed",
        )
        cases[f"{action} another table"] = (
            request(policy, action, f"{glue}:table/{ANALYTICS.glue_database}/other"),
            "ImplicitlyDenied",
        )
    cases["glue:GetDatabase the lake database"] = (
        request(policy, "glue:GetDatabase", f"{glue}:database/{ANALYTICS.glue_database}"),
        "Allowed",
    )
    cases["glue:UpdateTable"] = (
        request(policy, "glue:UpdateTable", f"{glue}:table/{ANALYTICS.glue_database}/{ANALYTICS.glue_table}"),
        "ImplicitlyDenied",
    )
    cases["read a school's lake object"] = (request(policy, "s3:GetObject", school_object), "Allowed")
    cases["read the delivery errors"] = (
        request(policy, "s3:GetObject", f"{lake_arn}/{ANALYTICS.error_output_prefix}x/2025/01/01/e"),
        "ImplicitlyDenied",
    )
    cases["write the lake"] = (request(policy, "s3:PutObject", school_object), "ImplicitlyDenied")
    cases["delete from the lake"] = (request(policy, "s3:DeleteObject", school_object), "ImplicitlyDenied")
    cases["read another bucket"] = (
        request(policy, "s3:GetObject", f"arn:aws:s3:::luca-govsync-manifests-{ACCOUNT}-{REGION}/a"),
        "ImplicitlyDenied",
    )
    cases["list the grades prefix"] = (
        request(policy, "s3:ListBucket", lake_arn, {"s3:prefix": f"{LAKE_PREFIX}/school_id=school-a/"}),
        "Allowed",
    )
    cases["list the error prefix"] = (
        request(policy, "s3:ListBucket", lake_arn, {"s3:prefix": ANALYTICS.error_output_prefix}),
        "ImplicitlyDenied",
    )
    cases["list the whole lake"] = (request(policy, "s3:ListBucket", lake_arn), "ImplicitlyDenied")
    cases["write a result"] = (request(policy, "s3:PutObject", f"{results_arn}/q-1.csv"), "Allowed")
    cases["read a result"] = (request(policy, "s3:GetObject", f"{results_arn}/q-1.csv"), "Allowed")
    kms_policy = without_encryption_context(policy)
    other_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/another-key"
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        cases[f"{action} via S3"] = (
            request(kms_policy, action, LAKE_KEY_ARN, via_s3, key_policy),
            "Allowed",
        )
        cases[f"{action} directly"] = (
            request(kms_policy, action, LAKE_KEY_ARN, {}, key_policy),
            "ImplicitlyDenied",
        )
        cases[f"{action} another key via S3"] = (
            request(kms_policy, action, other_key, via_s3, key_policy),
            "ImplicitlyDenied",
        )
    cases["kms:Encrypt via S3"] = (
        request(kms_policy, "kms:Encrypt", LAKE_KEY_ARN, via_s3, key_policy),
        "ImplicitlyDenied",
    )
    cases["the secret"] = (request(policy, "secretsmanager:GetSecretValue", SECRET_ARN), "ImplicitlyDenied")
    return cases


def test_the_analytics_task_role_queries_only_in_the_workgroup_over_the_lake(
    synthesized: Any, simulate_iam: Simulate
) -> None:
    cases = _lake_requests(
        policy_of(synthesized, STACK, SERVICE.task_role_name), lake_key_policy(synthesized)
    )

    results = simulate_iam({name: case for name, (case, _) in cases.items()})

    wrong = {
        name: (results[name], expected) for name, (_, expected) in cases.items() if results[name] != expected
    }
    assert not wrong, wrong


def test_the_grading_task_role_has_nothing_on_the_lake(synthesized: Any, simulate_iam: Simulate) -> None:
    cases = {
        name: case
        for name, (case, expected) in _lake_requests(
            policy_of(synthesized, "LucaGrading", PLATFORM_DEFINITION.grading.task_role_name),
            lake_key_policy(synthesized),
        ).items()
        if expected == "Allowed"
    }

    results = simulate_iam(cases)

    assert set(results.values()) == {"ImplicitlyDenied"}, results
