"""What each stack deploys, asserted on the synthesized templates against the definitions.

Every expected value is read from ``PLATFORM_DEFINITION`` or the table design: these tests fail when
the CDK app and the definitions (which the local platform also uses) drift apart.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from luca_govsync.config import ApiSettings
from luca_grading.config import GradingSettings
from luca_infra.aws.edge import ROUTE_PREFIX
from luca_infra.aws.grading import GOVSYNC_API_DOCKERFILE, IMAGE_DOCKERFILE, setting_env
from luca_infra.aws.load_balancer import GRPC_HEALTH_CHECK_PATH
from luca_infra.aws.observability import DASHBOARD_NAME, LATENCY_ALARM_NAME, LATENCY_OBJECTIVE_MS
from luca_infra.definitions import PLATFORM_DEFINITION
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


# -- grading service ---------------------------------------------------------------------------------
# The grading stack also runs the analytics query service (its own task and service, see
# test_analytics_api); these tests are about the grading task and service.
def _grading_task(synthesized: Any) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, task)
        for logical_id, task in synthesized.resources("LucaGrading", "AWS::ECS::TaskDefinition").items()
        if any(c["Name"] == "grading" for c in task["Properties"]["ContainerDefinitions"])
    ]
    return found


def _grading_service(synthesized: Any) -> dict[str, Any]:
    task_id, _ = _grading_task(synthesized)
    (found,) = [
        service
        for service in synthesized.resources("LucaGrading", "AWS::ECS::Service").values()
        if service["Properties"]["TaskDefinition"] == {"Ref": task_id}
    ]
    return found


def _container(synthesized: Any, name: str) -> dict[str, Any]:
    _, task = _grading_task(synthesized)
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == name]
    return container


def test_service_keeps_warm_tasks_and_scales_on_cpu(synthesized: Any) -> None:
    service = DEFINITION.grading
    ecs_service = _grading_service(synthesized)
    assert ecs_service["Properties"]["DesiredCount"] >= 2
    assert ecs_service["Properties"]["DesiredCount"] == service.min_tasks
    assert ecs_service["Properties"]["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
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
    template.has_resource_properties(
        "AWS::ECS::Cluster", {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}
    )


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
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "Scheme": "internal",
            "LoadBalancerAttributes": Match.array_with([{"Key": "access_logs.s3.enabled", "Value": "true"}]),
        },
    )


def test_grpc_is_served_on_an_https_listener(synthesized: Any) -> None:
    grading = synthesized.templates["LucaGrading"]["Resources"]
    grpc_groups = {lid for lid, r in grading.items() if r["Properties"].get("ProtocolVersion") == "GRPC"}
    listeners = synthesized.resources("LucaGrading", "AWS::ElasticLoadBalancingV2::Listener").values()
    (grpc_listener,) = [
        listener
        for listener in listeners
        if listener["Properties"]["DefaultActions"][0]["TargetGroupArn"] in [{"Ref": g} for g in grpc_groups]
    ]
    assert grpc_listener["Properties"]["Protocol"] == "HTTPS"
    assert grpc_listener["Properties"]["Certificates"]


def test_container_environment_names_the_resources(synthesized: Any) -> None:
    container = _container(synthesized, "grading")
    environment = {variable["Name"]: variable["Value"] for variable in container["Environment"]}
    required = {name for name, field in GradingSettings.model_fields.items() if field.is_required()}
    assert {setting_env(name) for name in required} <= set(environment)
    assert environment["LUCA_AWS_REGION"] == {"Ref": "AWS::Region"}
    assert environment["LUCA_OTEL_EXPORTER"] == "otlp"
    assert environment["LUCA_REST_PORT"] == str(DEFINITION.grading.rest_port)
    assert environment["LUCA_GRPC_PORT"] == str(DEFINITION.grading.grpc_port)
    assert environment["LUCA_SCHOOL_CLAIM"] == DEFINITION.user_pool.school_claim
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


def test_containers_log_to_cloudwatch_with_retention(synthesized: Any) -> None:
    _, task = _grading_task(synthesized)
    for container in task["Properties"]["ContainerDefinitions"]:
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    for log_group in synthesized.resources("LucaGrading", "AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] > 0
    assert _container(synthesized, "grading")["ReadonlyRootFilesystem"] is True


def test_image_is_an_asset_built_at_deploy_time_from_an_allowlisted_context(synthesized: Any) -> None:
    import json

    assets = json.loads((synthesized.outdir / "LucaGrading.assets.json").read_text())
    (image,) = [i for i in assets["dockerImages"].values() if i["source"]["dockerFile"] == IMAGE_DOCKERFILE]
    source = image["source"]
    assert source["dockerFile"] == "services/grading/Dockerfile"
    assert source["platform"] == "linux/amd64"
    staged = synthesized.outdir / source["directory"]
    assert (staged / "services/grading/Dockerfile").is_file()
    assert (staged / "proto/python/pyproject.toml").is_file()
    assert (staged / "requirements.lock").is_file()
    assert {path.name for path in staged.iterdir()} == {"services", "proto", "requirements.lock"}
    assert {path.name for path in (staged / "services").iterdir()} == {"grading"}
    for heavy in (".venv", "node_modules", "cdk.out", ".git", "infra"):
        assert not (staged / heavy).exists()
    assert not (staged / "services/grading/tests").exists()


def test_the_government_sync_api_runs_beside_the_service_from_its_own_allowlisted_image(
    synthesized: Any,
) -> None:
    import json

    service = DEFINITION.grading
    container = _container(synthesized, service.govsync_api_container)
    assert container["Essential"] is False  # grading keeps serving without it
    assert container["ReadonlyRootFilesystem"] is True
    assert [m["ContainerPort"] for m in container["PortMappings"]] == [service.govsync_api_port]
    environment = {variable["Name"]: variable["Value"] for variable in container["Environment"]}
    # Exactly what the API's process reads: it starts from this environment (tokens stand for values).
    settings = ApiSettings.from_environment(
        {name: value if isinstance(value, str) else f"<{name}>" for name, value in environment.items()}
    )
    assert settings.grpc_port == service.govsync_api_port
    assert settings.school_claim == DEFINITION.user_pool.school_claim
    assert ":stateMachine:" + DEFINITION.govsync.state_machine_name in json.dumps(
        environment["LUCA_STATE_MACHINE_ARN"]
    )
    assets = json.loads((synthesized.outdir / "LucaGrading.assets.json").read_text())
    (image,) = [
        i for i in assets["dockerImages"].values() if i["source"]["dockerFile"] == GOVSYNC_API_DOCKERFILE
    ]
    staged = synthesized.outdir / image["source"]["directory"]
    assert {path.name for path in staged.iterdir()} == {"services", "proto", "requirements.lock"}
    assert {path.name for path in (staged / "services").iterdir()} == {"grading", "govsync"}
    assert not (staged / "services/govsync/tests").exists()
    assert not (staged / "services/grading/tests").exists()


def test_the_grpc_listener_routes_the_government_sync_api_to_its_container(synthesized: Any) -> None:
    service = DEFINITION.grading
    groups = synthesized.resources("LucaGrading", "AWS::ElasticLoadBalancingV2::TargetGroup")
    (govsync_group,) = [
        lid for lid, g in groups.items() if g["Properties"]["Port"] == service.govsync_api_port
    ]
    assert groups[govsync_group]["Properties"]["ProtocolVersion"] == "GRPC"
    assert groups[govsync_group]["Properties"]["HealthCheckPath"] == GRPC_HEALTH_CHECK_PATH
    (rule,) = [
        rule
        for rule in synthesized.resources("LucaGrading", "AWS::ElasticLoadBalancingV2::ListenerRule").values()
        if rule["Properties"]["Actions"][0]["TargetGroupArn"] == {"Ref": govsync_group}
    ]
    assert rule["Properties"]["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": [service.govsync_api_path]}}
    ]
    ecs_service = _grading_service(synthesized)
    targets = {(t["ContainerName"], t["ContainerPort"]) for t in ecs_service["Properties"]["LoadBalancers"]}
    assert (service.govsync_api_container, service.govsync_api_port) in targets


def test_the_task_may_start_only_the_government_syncs_executions(synthesized: Any) -> None:
    import json

    policies = synthesized.resources("LucaGrading", "AWS::IAM::Policy").values()
    statements = [
        st
        for policy in policies
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(
            str(a).startswith("states:")
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        )
    ]
    assert {st["Action"] for st in statements} == {"states:StartExecution", "states:DescribeExecution"}
    name = DEFINITION.govsync.state_machine_name
    for statement in statements:
        resource = json.dumps(statement["Resource"])
        assert (f":stateMachine:{name}" in resource) or (f":execution:{name}:*" in resource), resource


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
    assert fields["school"] == f"$context.authorizer.claims['{DEFINITION.user_pool.school_claim}']"
    assert {"status", "latencyMs"} <= set(fields)


def test_api_routes_v1_proxy_through_the_authorizer_to_the_alb(synthesized: Any) -> None:
    template = synthesized.template("LucaEdge")
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"Name": DEFINITION.api_name})
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": ROUTE_PREFIX})
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "{proxy+}"})
    template.has_resource_properties("AWS::ApiGateway::Authorizer", {"Type": "COGNITO_USER_POOLS"})
    methods = synthesized.resources("LucaEdge", "AWS::ApiGateway::Method").values()
    (method,) = [m for m in methods if m["Properties"]["HttpMethod"] == "ANY"]
    properties = method["Properties"]
    assert properties["AuthorizationType"] == "COGNITO_USER_POOLS"
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
    rules = acl["Properties"]["Rules"]
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    (rate,) = [r["Statement"]["RateBasedStatement"] for r in rules if "RateBasedStatement" in r["Statement"]]
    assert rate["AggregateKeyType"] == "IP"
    # Never below what one school (usually one public IP) may legitimately send over the window.
    assert rate["Limit"] >= DEFINITION.throttling.per_school_rate * rate["EvaluationWindowSec"]
    _, association = synthesized.only("LucaEdge", "AWS::WAFv2::WebACLAssociation")
    assert "/stages/" in str(association["Properties"]["ResourceArn"])


# -- observability -----------------------------------------------------------------------------------
def test_latency_alarm_dashboard_and_encrypted_topic(synthesized: Any) -> None:
    template = synthesized.template("LucaObservability")
    template.has_resource_properties(
        "AWS::SNS::Topic", {"TopicName": DEFINITION.alerts_topic, "KmsMasterKeyId": Match.any_value()}
    )
    _, alarm = synthesized.only("LucaObservability", "AWS::CloudWatch::Alarm")
    properties = alarm["Properties"]
    assert properties["AlarmName"] == LATENCY_ALARM_NAME
    assert properties["Threshold"] == LATENCY_OBJECTIVE_MS
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["AlarmActions"]
    (query,) = properties["Metrics"]
    assert query["MetricStat"]["Stat"] == "p95"
    assert query["MetricStat"]["Metric"]["Namespace"] == DEFINITION.metrics_namespace
    assert query["MetricStat"]["Metric"]["MetricName"] == INTERACTIVE_REQUEST_LATENCY
    template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": DASHBOARD_NAME})


def _json(text: str) -> dict[str, str]:
    import json

    parsed: dict[str, str] = json.loads(text)
    return parsed
