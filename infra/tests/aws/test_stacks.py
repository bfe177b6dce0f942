"""What each stack deploys, asserted on the synthesized templates against the definitions.

Every expected value is read from ``PLATFORM_DEFINITION`` or the table design: these tests fail when
the CDK app and the definitions (which the local platform also uses) drift apart.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from luca_grading.config import GradingSettings
from luca_infra.aws.containers import COLLECTOR_CONTAINER
from luca_infra.aws.edge import ROUTE_PREFIX
from luca_infra.aws.grading import IMAGE_DOCKERFILE, setting_env
from luca_infra.aws.load_balancer import (
    CATCH_ALL_PATH,
    GRPC_HEALTH_CHECK_PATH,
    GRPC_LISTENER_PORT,
    REST_LISTENER_PORT,
    RULE_PRIORITIES,
)
from luca_infra.aws.observability import LATENCY_ALARM_NAME
from luca_infra.definitions import AVAILABILITY_ZONES, PLATFORM_DEFINITION
from luca_platform.problems import PROBLEM_BASE
from luca_platform.table import keys
from luca_platform.telemetry.metrics import INTERACTIVE_REQUEST_LATENCY

pytestmark = pytest.mark.infra

DEFINITION = PLATFORM_DEFINITION


# -- data --------------------------------------------------------------------------------------------
def test_table_keys_billing_stream_ttl_pitr_and_protection(synthesized: Any) -> None:
    table = DEFINITION.table
    synthesized.template("LucaData").has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": table.name,
            "KeySchema": [
                {"AttributeName": keys.TABLE_PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": keys.TABLE_SORT_KEY, "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            "TimeToLiveSpecification": {"AttributeName": keys.TTL_ATTRIBUTE, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "DeletionProtectionEnabled": True,
            # SSEEnabled without a key id: KMS with the AWS managed key (not the AWS owned key).
            "SSESpecification": {"SSEEnabled": True},
        },
    )
    assert keys.STREAM_VIEW == "NEW_AND_OLD_IMAGES"


def test_table_is_retained_when_the_stack_goes(synthesized: Any) -> None:
    synthesized.template("LucaData").has_resource(
        "AWS::DynamoDB::Table", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_indexes_match_the_table_design(synthesized: Any) -> None:
    _, table = synthesized.only("LucaData", "AWS::DynamoDB::Table")
    indexes = {index["IndexName"]: index for index in table["Properties"]["GlobalSecondaryIndexes"]}
    assert set(indexes) == {index.name for index in keys.INDEXES}
    for design in keys.INDEXES:
        assert indexes[design.name]["KeySchema"] == [
            {"AttributeName": design.partition_key, "KeyType": "HASH"},
            {"AttributeName": design.sort_key, "KeyType": "RANGE"},
        ]
        assert indexes[design.name]["Projection"] == {"ProjectionType": "ALL"}
    declared = {(a["AttributeName"], a["AttributeType"]) for a in table["Properties"]["AttributeDefinitions"]}
    assert declared == {(name, "S") for name in keys.KEY_ATTRIBUTES}


# -- identity ----------------------------------------------------------------------------------------
def test_custom_attributes_are_immutable(synthesized: Any) -> None:
    pool = DEFINITION.user_pool
    _, user_pool = synthesized.only("LucaIdentity", "AWS::Cognito::UserPool")
    schema = {attribute["Name"]: attribute for attribute in user_pool["Properties"]["Schema"]}
    for attribute in (pool.school_attribute, pool.student_attribute):
        assert schema[attribute]["Mutable"] is False
        assert schema[attribute]["AttributeDataType"] == "String"
    assert user_pool["Properties"]["UserPoolName"] == pool.name
    assert user_pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_app_client_reads_but_never_writes_the_school(synthesized: Any) -> None:
    pool = DEFINITION.user_pool
    _, client = synthesized.only("LucaIdentity", "AWS::Cognito::UserPoolClient")
    properties = client["Properties"]
    assert properties["ClientName"] == pool.client_name
    assert properties["GenerateSecret"] is False
    assert set(properties["ExplicitAuthFlows"]) == set(pool.auth_flows)
    for claim in (pool.school_claim, pool.student_claim):
        assert claim in properties["ReadAttributes"]
        assert claim not in properties["WriteAttributes"]
    assert not any(attribute.startswith("custom:") for attribute in properties["WriteAttributes"])
    assert properties["IdTokenValidity"] == pool.id_token_validity_minutes
    assert properties["TokenValidityUnits"]["IdToken"] == "minutes"


def test_groups_are_the_defined_roles(synthesized: Any) -> None:
    groups = synthesized.resources("LucaIdentity", "AWS::Cognito::UserPoolGroup")
    assert sorted(group["Properties"]["GroupName"] for group in groups.values()) == sorted(
        DEFINITION.user_pool.groups
    )


def test_user_pool_password_policy_and_threat_protection(synthesized: Any) -> None:
    synthesized.template("LucaIdentity").has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "Policies": {
                "PasswordPolicy": Match.object_like(
                    {
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": True,
                    }
                )
            },
            "UserPoolTier": "PLUS",
            "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
        },
    )
    synthesized.template("LucaIdentity").has_resource_properties(
        "AWS::Cognito::UserPoolRiskConfigurationAttachment",
        {
            "ClientId": "ALL",
            "CompromisedCredentialsRiskConfiguration": {"Actions": {"EventAction": "BLOCK"}},
        },
    )


def test_service_identity_key_is_the_defined_asymmetric_signing_key(synthesized: Any) -> None:
    identity = DEFINITION.service_identity
    template = synthesized.template("LucaIdentity")
    template.has_resource_properties(
        "AWS::KMS::Key", {"KeySpec": identity.key_spec, "KeyUsage": identity.key_usage}
    )
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": identity.alias})
    template.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


# -- network: the shared VPC, cluster and load balancer -----------------------------------------------
def _exported(synthesized: Any, value: Any) -> tuple[str, Any]:
    """The stack and value behind an ``Fn::ImportValue``."""
    name = value["Fn::ImportValue"]
    for stack, template in synthesized.templates.items():
        for output in template.get("Outputs", {}).values():
            if output.get("Export", {}).get("Name") == name:
                return stack, output["Value"]
    raise AssertionError(f"no export {name}")


def _listeners(synthesized: Any) -> dict[str, dict[str, Any]]:
    """The shared listeners by protocol (HTTP: REST, HTTPS: gRPC), with their logical ids."""
    listeners = synthesized.resources("LucaNetwork", "AWS::ElasticLoadBalancingV2::Listener")
    by_protocol = {
        listener["Properties"]["Protocol"]: {"id": lid, **listener} for lid, listener in listeners.items()
    }
    assert set(by_protocol) == {"HTTP", "HTTPS"}
    return by_protocol


def test_the_load_balancer_is_internal_logged_and_shared(synthesized: Any) -> None:
    template = synthesized.template("LucaNetwork")
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "Scheme": "internal",
            "LoadBalancerAttributes": Match.array_with([{"Key": "access_logs.s3.enabled", "Value": "true"}]),
        },
    )
    template.has_resource_properties(
        "AWS::ECS::Cluster", {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}
    )
    # The shared stack holds no service: no target group, task or service of anyone's.
    for resource_type in (
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        "AWS::ECS::TaskDefinition",
        "AWS::ECS::Service",
    ):
        assert not synthesized.resources("LucaNetwork", resource_type), resource_type


def test_grpc_is_served_on_an_https_listener_and_rest_on_http(synthesized: Any) -> None:
    listeners = _listeners(synthesized)
    assert listeners["HTTPS"]["Properties"]["Port"] == GRPC_LISTENER_PORT
    assert listeners["HTTPS"]["Properties"]["Certificates"]
    assert listeners["HTTP"]["Properties"]["Port"] == REST_LISTENER_PORT
    assert "Certificates" not in listeners["HTTP"]["Properties"]


def test_a_path_no_service_claims_is_a_404_from_the_load_balancer(synthesized: Any) -> None:
    for listener in _listeners(synthesized).values():
        (action,) = listener["Properties"]["DefaultActions"]
        assert action["Type"] == "fixed-response"
        assert action["FixedResponseConfig"]["StatusCode"] == "404"
        assert _json(action["FixedResponseConfig"]["MessageBody"])["status"] == 404


# -- grading service ---------------------------------------------------------------------------------
def _grading_task(synthesized: Any) -> tuple[str, dict[str, Any]]:
    return synthesized.only("LucaGrading", "AWS::ECS::TaskDefinition")


def _grading_service(synthesized: Any) -> dict[str, Any]:
    task_id, _ = _grading_task(synthesized)
    _, service = synthesized.only("LucaGrading", "AWS::ECS::Service")
    assert service["Properties"]["TaskDefinition"] == {"Ref": task_id}
    return service


def _container(synthesized: Any, name: str) -> dict[str, Any]:
    _, task = _grading_task(synthesized)
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == name]
    return container


def test_service_keeps_warm_tasks_and_scales_on_cpu(synthesized: Any) -> None:
    service = DEFINITION.grading
    ecs_service = _grading_service(synthesized)
    assert ecs_service["Properties"]["DesiredCount"] >= 2
    assert ecs_service["Properties"]["DesiredCount"] == service.min_tasks
    # Decision 0013: at least one task in each AZ, kept there, and rolling deployments that start the
    # new tasks before stopping the old.
    assert service.min_tasks >= AVAILABILITY_ZONES
    assert ecs_service["Properties"]["AvailabilityZoneRebalancing"] == "ENABLED"
    assert ecs_service["Properties"]["DeploymentConfiguration"]["MaximumPercent"] == 200
    assert ecs_service["Properties"]["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    assert ecs_service["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    assert (
        ecs_service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"]
        == "DISABLED"
    )
    stack, _ = _exported(synthesized, ecs_service["Properties"]["Cluster"])
    assert stack == "LucaNetwork"
    template = synthesized.template("LucaGrading")
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": service.min_tasks, "MaxCapacity": service.max_tasks},
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                    "TargetValue": service.target_cpu_percent,
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition", {"Cpu": str(service.cpu), "Memory": str(service.memory_mib)}
    )
    # Decision 0013's size: half a vCPU (the service is one process) with Fargate's smallest memory for it.
    assert (service.cpu, service.memory_mib, service.target_cpu_percent) == (512, 1024, 60)


def test_target_groups_for_rest_and_grpc(synthesized: Any) -> None:
    service = DEFINITION.grading
    template = synthesized.template("LucaGrading")
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "Port": service.rest_port,
            "Protocol": "HTTP",
            "HealthCheckPath": service.health_path,
            "TargetType": "ip",
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "Port": service.grpc_port,
            "ProtocolVersion": "GRPC",
            "HealthCheckPath": GRPC_HEALTH_CHECK_PATH,
            "Matcher": {"GrpcCode": "0"},
        },
    )


def test_grading_takes_every_path_no_other_service_claims_on_both_listeners(synthesized: Any) -> None:
    service = DEFINITION.grading
    listeners = {listener["id"]: protocol for protocol, listener in _listeners(synthesized).items()}
    groups = synthesized.resources("LucaGrading", "AWS::ElasticLoadBalancingV2::TargetGroup")
    port_of = {lid: group["Properties"]["Port"] for lid, group in groups.items()}
    routed = {}
    for rule in synthesized.resources("LucaGrading", "AWS::ElasticLoadBalancingV2::ListenerRule").values():
        properties = rule["Properties"]
        stack, listener = _exported(synthesized, properties["ListenerArn"])
        assert stack == "LucaNetwork"
        ((action,),) = [properties["Actions"]]
        assert properties["Conditions"] == [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": [CATCH_ALL_PATH]}}
        ]
        routed[listeners[listener["Ref"]]] = (
            port_of[action["TargetGroupArn"]["Ref"]],
            properties["Priority"],
        )
    assert routed == {
        "HTTP": (service.rest_port, RULE_PRIORITIES["rest"]["grading"]),
        "HTTPS": (service.grpc_port, RULE_PRIORITIES["grpc"]["grading"]),
    }
    # Every other service's rule on a listener is evaluated before the catch-all.
    for priorities in RULE_PRIORITIES.values():
        assert max(priorities, key=lambda name: priorities[name]) == "grading"
        assert len(set(priorities.values())) == len(priorities)
    ecs_service = _grading_service(synthesized)
    targets = {(t["ContainerName"], t["ContainerPort"]) for t in ecs_service["Properties"]["LoadBalancers"]}
    assert targets == {("grading", service.rest_port), ("grading", service.grpc_port)}


def test_the_tasks_take_traffic_from_the_load_balancer_only_on_their_ports(synthesized: Any) -> None:
    service = DEFINITION.grading
    (group_id,) = synthesized.resources("LucaGrading", "AWS::EC2::SecurityGroup")
    ingress = synthesized.resources("LucaGrading", "AWS::EC2::SecurityGroupIngress").values()
    egress = synthesized.resources("LucaGrading", "AWS::EC2::SecurityGroupEgress").values()
    _, load_balancer = synthesized.only("LucaNetwork", "AWS::ElasticLoadBalancingV2::LoadBalancer")
    (balancer,) = load_balancer["Properties"]["SecurityGroups"]
    opened_in = set()
    for rule in ingress:
        properties = rule["Properties"]
        assert properties["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
        assert _exported(synthesized, properties["SourceSecurityGroupId"]) == ("LucaNetwork", balancer)
        assert properties["FromPort"] == properties["ToPort"]
        opened_in.add(properties["FromPort"])
    opened_out = set()
    for rule in egress:
        properties = rule["Properties"]
        assert _exported(synthesized, properties["GroupId"]) == ("LucaNetwork", balancer)
        assert properties["DestinationSecurityGroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
        opened_out.add(properties["FromPort"])
    assert opened_in == opened_out == {service.rest_port, service.grpc_port}


def test_container_environment_names_the_resources(synthesized: Any) -> None:
    container = _container(synthesized, "grading")
    environment = {variable["Name"]: variable["Value"] for variable in container["Environment"]}
    secrets = {secret["Name"] for secret in container.get("Secrets", [])}
    required = {name for name, field in GradingSettings.model_fields.items() if field.is_required()}
    assert {setting_env(name) for name in required} <= set(environment) | secrets
    assert environment["LUCA_AWS_REGION"] == {"Ref": "AWS::Region"}
    assert environment["LUCA_OTEL_EXPORTER"] == "otlp"
    assert environment["LUCA_REST_PORT"] == str(DEFINITION.grading.rest_port)
    assert environment["LUCA_GRPC_PORT"] == str(DEFINITION.grading.grpc_port)
    assert environment["LUCA_SCHOOL_CLAIM"] == DEFINITION.user_pool.school_claim
    assert environment["LUCA_TENANT_ROLE_ARN"]["Fn::Join"][1][-1] == f":role/{DEFINITION.tenant_role.name}"
    for name in (
        "LUCA_TABLE_NAME",
        "LUCA_USER_POOL_ID",
        "LUCA_USER_POOL_CLIENT_ID",
        "LUCA_SERVICE_TOKEN_KEY_ID",
    ):
        assert "Fn::ImportValue" in environment[name], f"{name} must come from the stack that owns it"
    # Names the service does not read would be silently ignored (its settings ignore extras).
    prefix = GradingSettings.model_config.get("env_prefix", "").upper()
    unknown = {
        name
        for name in environment
        if name.startswith(prefix) and name[len(prefix) :].lower() not in GradingSettings.model_fields
    }
    assert not unknown


def test_the_task_runs_the_grading_service_and_its_tracing_sidecar_only(synthesized: Any) -> None:
    _, task = _grading_task(synthesized)
    containers = {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}
    assert set(containers) == {"grading", COLLECTOR_CONTAINER}
    assert containers["grading"]["Essential"] is True
    assert containers[COLLECTOR_CONTAINER]["Essential"] is False
    assert f"{DEFINITION.grading.rest_port}{DEFINITION.grading.health_path}" in " ".join(
        containers["grading"]["HealthCheck"]["Command"]
    )


def test_containers_log_to_cloudwatch_with_retention(synthesized: Any) -> None:
    _, task = _grading_task(synthesized)
    for container in task["Properties"]["ContainerDefinitions"]:
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert container["LogConfiguration"]["Options"]["mode"] == "non-blocking"
        assert container["ReadonlyRootFilesystem"] is True
    for log_group in synthesized.resources("LucaGrading", "AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] > 0
    assert (
        _container(synthesized, "grading")["LogConfiguration"]["Options"]["max-buffer-size"]
        == f"{25 * 1024**2}b"
    )


def test_image_is_an_asset_built_at_deploy_time_from_an_allowlisted_context(synthesized: Any) -> None:
    import json

    assets = json.loads((synthesized.outdir / "LucaGrading.assets.json").read_text())
    ((image,),) = [list(assets["dockerImages"].values())]
    source = image["source"]
    assert source["dockerFile"] == IMAGE_DOCKERFILE == "services/grading/Dockerfile"
    assert source["platform"] == "linux/amd64"
    staged = synthesized.outdir / source["directory"]
    assert (staged / "services/grading/Dockerfile").is_file()
    assert (staged / "services/grading/requirements.lock").is_file()
    assert (staged / "proto/python/pyproject.toml").is_file()
    assert {path.name for path in staged.iterdir()} == {"services", "libs", "proto"}
    assert {path.name for path in (staged / "services").iterdir()} == {"grading"}
    assert {path.name for path in (staged / "libs").iterdir()} == {"kernel", "platform"}
    for heavy in (".venv", "node_modules", "cdk.out", ".git", "infra", "requirements.lock"):
        assert not (staged / heavy).exists()
    for tests in ("services/grading/tests", "libs/kernel/tests", "libs/platform/tests"):
        assert not (staged / tests).exists()


def test_the_task_role_may_only_become_one_school_verify_tokens_and_trace(synthesized: Any) -> None:
    _, task = _grading_task(synthesized)
    role_id = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    role = synthesized.templates["LucaGrading"]["Resources"][role_id]["Properties"]
    assert role["RoleName"] == DEFINITION.grading.task_role_name
    actions = {
        action
        for policy in synthesized.resources("LucaGrading", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    # The government sync's API and the report service have their own task roles now.
    assert actions == {
        "sts:AssumeRole",
        "sts:TagSession",
        *DEFINITION.service_identity.verify_actions,
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


# -- edge --------------------------------------------------------------------------------------------
def test_stage_throttling_tracing_and_access_logs(synthesized: Any) -> None:
    throttling = DEFINITION.throttling
    _, stage = synthesized.only("LucaEdge", "AWS::ApiGateway::Stage")
    properties = stage["Properties"]
    assert properties["StageName"] == DEFINITION.api_stage
    assert properties["TracingEnabled"] is True
    (settings,) = properties["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == throttling.stage_rate_limit
    assert settings["ThrottlingBurstLimit"] == throttling.stage_burst_limit
    assert settings["DataTraceEnabled"] is False
    access_log = properties["AccessLogSetting"]
    assert "Fn::GetAtt" in access_log["DestinationArn"]
    fields = _json(access_log["Format"])
    assert fields["requestId"] == "$context.requestId"
    # The authorizer's context (the verified token's school), as the ThrottledRequests filter reads it.
    assert fields["school"] == "$context.authorizer.school_id"
    assert {"status", "latencyMs"} <= set(fields)


def test_api_routes_v1_proxy_through_the_authorizer_to_the_alb(synthesized: Any) -> None:
    template = synthesized.template("LucaEdge")
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"Name": DEFINITION.api_name})
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": ROUTE_PREFIX})
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "{proxy+}"})
    template.has_resource_properties("AWS::ApiGateway::Authorizer", {"Type": "REQUEST"})
    methods = synthesized.resources("LucaEdge", "AWS::ApiGateway::Method").values()
    (method,) = [m for m in methods if m["Properties"]["HttpMethod"] == "ANY"]
    properties = method["Properties"]
    assert properties["AuthorizationType"] == "CUSTOM"
    assert properties["ApiKeyRequired"] is True
    integration = properties["Integration"]
    assert integration["Type"] == "HTTP_PROXY"
    assert integration["ConnectionType"] == "VPC_LINK"
    assert "Fn::ImportValue" in integration["IntegrationTarget"]
    assert integration["RequestParameters"]["integration.request.path.proxy"] == "method.request.path.proxy"
    assert integration["RequestParameters"]["integration.request.header.X-Correlation-Id"] == (
        "method.request.header.X-Correlation-Id"
    )
    assert integration["Uri"]["Fn::Join"][1][-1].endswith(f"/{ROUTE_PREFIX}/{{proxy}}")


def test_waf_guards_the_stage(synthesized: Any) -> None:
    _, acl = synthesized.only("LucaEdge", "AWS::WAFv2::WebACL")
    properties = acl["Properties"]
    rules = {rule["Name"]: rule for rule in properties["Rules"]}
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules.values()
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
    }
    assert sorted(rule["Priority"] for rule in rules.values()) == list(range(len(rules)))
    # Bad reputation goes first; the cheap rate and size checks before the rule groups' inspection.
    assert rules["AWSManagedRulesAmazonIpReputationList"]["Priority"] == 0
    rate = rules["PerIpRate"]["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP"
    # Never below what the largest school (usually one public IP) may legitimately send over the window.
    assert rate["Limit"] >= DEFINITION.throttling.max_school_rate * rate["EvaluationWindowSec"]
    too_many = rules["PerIpRate"]["Action"]["Block"]["CustomResponse"]
    assert too_many["ResponseCode"] == 429
    assert [h["Name"] for h in too_many["ResponseHeaders"]] == ["Retry-After"]
    _, association = synthesized.only("LucaEdge", "AWS::WAFv2::WebACLAssociation")
    assert "/stages/" in str(association["Properties"]["ResourceArn"])


def test_throttled_requests_are_counted_per_school_from_the_access_log(synthesized: Any) -> None:
    from luca_platform.telemetry.metrics import SCHOOL_DIMENSION, THROTTLED_REQUESTS

    _, metric_filter = synthesized.only("LucaEdge", "AWS::Logs::MetricFilter")
    properties = metric_filter["Properties"]
    assert properties["FilterPattern"] == '{ $.status = "429" }'
    (transformation,) = properties["MetricTransformations"]
    assert transformation["MetricName"] == THROTTLED_REQUESTS
    assert transformation["MetricNamespace"] == DEFINITION.metrics_namespace
    assert transformation["Dimensions"] == [{"Key": SCHOOL_DIMENSION, "Value": "$.school"}]
    groups = synthesized.resources("LucaEdge", "AWS::Logs::LogGroup")
    (access_log,) = [
        lid for lid, g in groups.items() if g["Properties"]["LogGroupName"] == DEFINITION.api_access_log_group
    ]
    assert properties["LogGroupName"] == {"Ref": access_log}


def test_throttling_at_the_edge_is_a_429_problem_with_retry_after(synthesized: Any) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.resources("LucaEdge", "AWS::ApiGateway::GatewayResponse").values()
    }
    for kind in ("THROTTLED", "QUOTA_EXCEEDED"):
        response = responses[kind]
        assert response["StatusCode"] == "429"
        headers = response["ResponseParameters"]
        assert int(headers["gatewayresponse.header.Retry-After"].strip("'")) >= 1
        assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        problem = json.loads(response["ResponseTemplates"]["application/json"])
        assert (problem["status"], problem["type"]) == (429, PROBLEM_BASE + "rate-limited")


def test_waf_refuses_bodies_over_the_apis_one_limit_with_a_413_problem(synthesized: Any) -> None:
    from luca_grading.config import GradingSettings

    _, acl = synthesized.only("LucaEdge", "AWS::WAFv2::WebACL")
    properties = acl["Properties"]
    rules = {rule["Name"]: rule for rule in properties["Rules"]}
    limit = DEFINITION.request_body_limit_bytes
    size = rules["BodyTooLarge"]["Statement"]["SizeConstraintStatement"]
    assert (size["ComparisonOperator"], size["Size"]) == ("GT", limit)
    # What WAF does not inspect counts as too large: nothing over the limit passes unread.
    assert size["FieldToMatch"]["Body"]["OversizeHandling"] == "MATCH"
    inspected = properties["AssociationConfig"]["RequestBody"]["API_GATEWAY"]["DefaultSizeInspectionLimit"]
    assert int(inspected.removeprefix("KB_")) * 1024 >= limit
    response = rules["BodyTooLarge"]["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 413
    problem = json.loads(properties["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"])
    assert (problem["status"], problem["type"]) == (413, PROBLEM_BASE + "content-too-large")
    assert str(limit) in problem["detail"]
    # The common rule set's own 8 KB body rule would refuse bodies the API takes: it only counts.
    (common,) = [
        r["Statement"]["ManagedRuleGroupStatement"]
        for r in rules.values()
        if r["Statement"].get("ManagedRuleGroupStatement", {}).get("Name") == "AWSManagedRulesCommonRuleSet"
    ]
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    # The same limit behind it: the grading service's default and the container's setting.
    assert GradingSettings.model_fields["max_body_bytes"].default == limit


def test_waf_logs_every_verdict_without_the_bearer_token(synthesized: Any) -> None:
    _, logging = synthesized.only("LucaEdge", "AWS::WAFv2::LoggingConfiguration")
    properties = logging["Properties"]
    assert properties["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]
    (destination,) = properties["LogDestinationConfigs"]
    assert DEFINITION.waf_log_group.startswith("aws-waf-logs-")  # WAF's required prefix
    assert str(destination).count(DEFINITION.waf_log_group) == 1
    assert not str(destination).endswith(":*")
    groups = {
        r["Properties"]["LogGroupName"]: r["Properties"]
        for r in synthesized.resources("LucaEdge", "AWS::Logs::LogGroup").values()
    }
    assert groups[DEFINITION.waf_log_group]["RetentionInDays"] > 0


# -- observability -----------------------------------------------------------------------------------
def test_latency_alarm_dashboard_and_encrypted_topic(synthesized: Any) -> None:
    template = synthesized.template("LucaObservability")
    template.has_resource_properties(
        "AWS::SNS::Topic", {"TopicName": DEFINITION.alerts_topic, "KmsMasterKeyId": Match.any_value()}
    )
    # Without luca:schools in context, only the all-schools alarm (per-school ones: test_operations_stack).
    _, alarm = synthesized.only("LucaObservability", "AWS::CloudWatch::Alarm")
    properties = alarm["Properties"]
    assert properties["AlarmName"] == LATENCY_ALARM_NAME == "Luca-P95-Latency-Alert-All"
    assert properties["Threshold"] == DEFINITION.latency_objective_ms == 120
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["AlarmActions"]
    (query,) = properties["Metrics"]
    assert query["MetricStat"]["Stat"] == "p95"
    assert query["MetricStat"]["Metric"]["Namespace"] == DEFINITION.metrics_namespace
    assert query["MetricStat"]["Metric"]["MetricName"] == INTERACTIVE_REQUEST_LATENCY
    template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": "Luca-Production-Overview"}
    )


def _json(text: str) -> dict[str, str]:
    import json

    parsed: dict[str, str] = json.loads(text)
    return parsed
