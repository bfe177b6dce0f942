"""The grading service on ECS Fargate behind an internal ALB (ARCHITECTURE §2.1: not App Runner).

- Always warm: at least ``min_tasks`` tasks, scaling on CPU up to ``max_tasks``.
- The ALB is internal. REST reaches it only from API Gateway's VPC link (the edge stack) on the
  plain-HTTP listener; internal gRPC clients reach the HTTPS listener (gRPC on ALB needs TLS) from
  inside the VPC. Traffic between ALB and tasks stays in the private subnets.
- The image is a CDK asset: synth only stages an allowlisted copy of the repository (no Docker);
  the CLI builds and pushes it at deploy time.
- The task role may only assume the tenant role (per school), verify service tokens, start the
  government sync and write traces; see tenant_access. It has nothing on the analytics lake.
- The analytics query service runs as its own Fargate service in the same cluster, behind the same
  ALB, with its own task role (the only one that may query the lake): see analytics_api.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from luca_grading.config import GradingSettings
from luca_infra.aws.analytics import LakeQueryAccess
from luca_infra.aws.analytics_api import AnalyticsApi
from luca_infra.aws.containers import (
    LOG_RETENTION,
    OTLP_HTTP_ENDPOINT,
    SCRATCH_VOLUME,
    add_collector,
    http_health_check,
    mount_scratch,
    repository_image,
)
from luca_infra.aws.identity import ServiceIdentityKey
from luca_infra.aws.load_balancer import InternalLoadBalancer
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.network import PrivateNetwork
from luca_infra.aws.tenant_access import TenantDataAccess
from luca_infra.definitions import GradingServiceDefinition, PlatformDefinition

SERVICE_CONTAINER = "grading"

# What the image build may see, relative to the repository root (Docker ignore syntax: exclude all,
# then re-include). An allowlist, so a new top-level directory never leaks into the build context.
IMAGE_DOCKERFILE = "services/grading/Dockerfile"
GOVSYNC_API_DOCKERFILE = "services/govsync/Dockerfile"
GOVSYNC_API_CONTEXT_ALLOWLIST = (
    "*",
    "!requirements.lock",
    "!proto/python",
    "!services/grading/pyproject.toml",
    "!services/grading/src",
    "!services/govsync",
    "services/govsync/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
)
IMAGE_CONTEXT_ALLOWLIST = (
    "*",
    "!requirements.lock",
    "!proto/python",
    "!services/grading",
    "services/grading/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
)


def setting_env(field: str) -> str:
    """The environment variable the grading service reads ``field`` from (its settings class decides)."""
    if field not in GradingSettings.model_fields:
        raise KeyError(f"the grading service has no setting {field!r}")
    return f"{GradingSettings.model_config.get('env_prefix', '')}{field}".upper()


class GradingStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        table: dynamodb.ITable,
        user_pool: cognito.IUserPool,
        user_pool_client: cognito.IUserPoolClient,
        service_identity: ServiceIdentityKey,
        certificate_arn: str,
        repo_root: Path,
        collector_image: str,
        lake: LakeQueryAccess,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        service_definition = definition.grading
        rest_port = service_definition.rest_port
        grpc_port = service_definition.grpc_port

        network = PrivateNetwork(self, "Network")
        self.vpc = network.vpc
        self.private_subnets = network.private_subnets

        # -- identities ----------------------------------------------------------------------------
        # The tenant policy names the table by its defined name (an ARN built in this stack), so the
        # policy reads the same in every environment and its index wildcard can be acknowledged.
        table_arn = self.format_arn(service="dynamodb", resource="table", resource_name=definition.table.name)
        access = TenantDataAccess(
            self, "TenantAccess", definition=definition.tenant_role, table_arn=table_arn
        )
        self.task_role = access.task_role
        self.tenant_role = access.tenant_role
        access.grant_assume_for_school(self.task_role)
        # The service verifies internal callers' tokens: the public half of the key, never Sign.
        service_identity.grant_verify(self.task_role)
        acknowledge(
            self.tenant_role,
            f"IAM5[Resource::arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/{definition.table.name}/index/*]",
            "Every index of the platform table: each index's partition key starts with the school too, and "
            "the statement's dynamodb:LeadingKeys condition confines every call to the session's school.",
        )
        # The collector sidecar shares the task role; X-Ray has no resource-level permissions.
        iam.Grant.add_to_principal(
            grantee=self.task_role,
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            resource_arns=["*"],
        )
        acknowledge(
            self.task_role,
            "IAM5[Resource::*]",
            "Only xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level "
            "permissions (the trace collector sidecar shares the task role). Write-only telemetry, no data access.",
        )

        # The government sync's API (beside the service in the task) starts and reads executions of the
        # sync's state machine only; its name is fixed by the definition, so no stack depends on another.
        govsync = definition.govsync
        state_machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=govsync.state_machine_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        executions_arn = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{govsync.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        iam.Grant.add_to_principal(
            grantee=self.task_role, actions=["states:StartExecution"], resource_arns=[state_machine_arn]
        )
        iam.Grant.add_to_principal(
            grantee=self.task_role, actions=["states:DescribeExecution"], resource_arns=[executions_arn]
        )
        acknowledge(
            self.task_role,
            f"IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{govsync.state_machine_name}:*]",
            "DescribeExecution on the government sync's own executions, whose names are only known when they "
            "start (one per school and period); no other state machine.",
        )

        # -- tasks ---------------------------------------------------------------------------------
        cluster = ecs.Cluster(
            self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        # Resource names only; no secret is ever passed through the environment.
        environment = {
            setting_env("service_name"): service_definition.name,
            setting_env("aws_region"): self.region,
            setting_env("table_name"): table.table_name,
            setting_env("user_pool_id"): user_pool.user_pool_id,
            setting_env("user_pool_client_id"): user_pool_client.user_pool_client_id,
            setting_env("school_claim"): definition.user_pool.school_claim,
            setting_env("student_claim"): definition.user_pool.student_claim,
            setting_env("tenant_role_arn"): self.tenant_role.role_arn,
            setting_env("tenant_session_seconds"): str(definition.tenant_role.session_duration_seconds),
            setting_env("tenant_refresh_margin_seconds"): str(definition.tenant_role.refresh_margin_seconds),
            setting_env("service_token_key_id"): service_identity.key.key_arn,
            setting_env("rest_port"): str(rest_port),
            setting_env("grpc_port"): str(grpc_port),
            setting_env("metrics_namespace"): definition.metrics_namespace,
            setting_env("otel_exporter"): "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{OTLP_HTTP_ENDPOINT}",
        }
        govsync_environment = {
            "LUCA_AWS_REGION": self.region,
            "LUCA_TABLE_NAME": table.table_name,
            "LUCA_STATE_MACHINE_ARN": state_machine_arn,
            "LUCA_USER_POOL_ID": user_pool.user_pool_id,
            "LUCA_USER_POOL_CLIENT_ID": user_pool_client.user_pool_client_id,
            "LUCA_SCHOOL_CLAIM": definition.user_pool.school_claim,
            "LUCA_STUDENT_CLAIM": definition.user_pool.student_claim,
            "LUCA_TENANT_ROLE_ARN": self.tenant_role.role_arn,
            "LUCA_SERVICE_TOKEN_KEY_ID": service_identity.key.key_arn,
            "LUCA_GRPC_PORT": str(service_definition.govsync_api_port),
        }
        task = GradingTask(
            self,
            "Task",
            definition=service_definition,
            task_role=self.task_role,
            environment=environment,
            govsync_environment=govsync_environment,
            repo_root=repo_root,
            collector_image=collector_image,
        ).task_definition

        # -- load balancer -------------------------------------------------------------------------
        front = InternalLoadBalancer(
            self,
            "Front",
            vpc=self.vpc,
            subnets=self.private_subnets,
            definition=service_definition,
            certificate_arn=certificate_arn,
        )
        self.load_balancer = front.load_balancer
        self.edge_link_security_group = front.edge_link_security_group
        service_security_group = ec2.SecurityGroup(
            self,
            "ServiceSecurityGroup",
            vpc=self.vpc,
            description="Grading tasks: REST and gRPC from the ALB only",
            # Tasks call AWS endpoints, the NAT (JWKS, collector image) and nothing inbound but the ALB.
            allow_all_outbound=True,
        )

        # -- service -------------------------------------------------------------------------------
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            desired_count=service_definition.min_tasks,
            min_healthy_percent=100,  # deployments never drop below the warm minimum
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=self.private_subnets,
            security_groups=[service_security_group],
            assign_public_ip=False,
            health_check_grace_period=cdk.Duration.seconds(60),
        )
        for container, port, targets in (
            (SERVICE_CONTAINER, rest_port, front.rest_targets),
            (SERVICE_CONTAINER, grpc_port, front.grpc_targets),
            (
                service_definition.govsync_api_container,
                service_definition.govsync_api_port,
                front.govsync_targets,
            ),
        ):
            targets.add_target(
                self.service.load_balancer_target(container_name=container, container_port=port)
            )
            service_security_group.connections.allow_from(
                front.security_group, ec2.Port.tcp(port), "from the grading ALB"
            )
        scaling = self.service.auto_scale_task_count(
            min_capacity=service_definition.min_tasks, max_capacity=service_definition.max_tasks
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=service_definition.target_cpu_percent,
            scale_out_cooldown=cdk.Duration.seconds(60),
            scale_in_cooldown=cdk.Duration.seconds(300),
        )

        # -- the analytics query service: its own service (and task role) behind the same ALB ---------
        analytics = definition.analytics_aws
        self.analytics_api = AnalyticsApi(
            self,
            "AnalyticsApi",
            definition=definition,
            cluster=cluster,
            subnets=self.private_subnets,
            front=front,
            tenant_role=self.tenant_role,
            service_identity=service_identity,
            environment={
                "LUCA_AWS_REGION": self.region,
                "LUCA_TABLE_NAME": table.table_name,
                "LUCA_USER_POOL_ID": user_pool.user_pool_id,
                "LUCA_USER_POOL_CLIENT_ID": user_pool_client.user_pool_client_id,
                "LUCA_SCHOOL_CLAIM": definition.user_pool.school_claim,
                "LUCA_STUDENT_CLAIM": definition.user_pool.student_claim,
                "LUCA_TENANT_ROLE_ARN": self.tenant_role.role_arn,
                "LUCA_SERVICE_TOKEN_KEY_ID": service_identity.key.key_arn,
                "LUCA_ATHENA_WORKGROUP": analytics.workgroup_name,
                "LUCA_ATHENA_DATABASE": analytics.glue_database,
                "LUCA_ATHENA_TABLE": analytics.glue_table,
                "LUCA_REST_PORT": str(service_definition.analytics_rest_port),
                "LUCA_GRPC_PORT": str(service_definition.analytics_grpc_port),
                "LUCA_OTEL_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{OTLP_HTTP_ENDPOINT}",
            },
            lake=lake,
            repo_root=repo_root,
            collector_image=collector_image,
        )


class GradingTask(Construct):
    """The task: the service container (image built from this repository) and a tracing sidecar."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: GradingServiceDefinition,
        task_role: iam.IRole,
        environment: Mapping[str, str],
        govsync_environment: Mapping[str, str],
        repo_root: Path,
        collector_image: str,
    ) -> None:
        super().__init__(scope, construct_id)
        task = ecs.FargateTaskDefinition(
            self,
            "Definition",
            cpu=definition.cpu,
            memory_limit_mib=definition.memory_mib,
            task_role=task_role,
            # The lock's wheels are x86_64 Linux; build and run the same architecture.
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            volumes=[ecs.Volume(name=SCRATCH_VOLUME)],
        )
        self.task_definition = task
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        image = repository_image(repo_root, IMAGE_DOCKERFILE, IMAGE_CONTEXT_ALLOWLIST)
        container = task.add_container(
            SERVICE_CONTAINER,
            image=image,
            essential=True,
            readonly_root_filesystem=True,
            port_mappings=[
                ecs.PortMapping(container_port=definition.rest_port, name="rest"),
                ecs.PortMapping(container_port=definition.grpc_port, name="grpc"),
            ],
            environment=dict(environment),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=definition.name,
                log_group=log_group,
                # Never block a request on CloudWatch Logs back-pressure (p95 budget: 120 ms).
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=cdk.Size.mebibytes(25),
            ),
            health_check=http_health_check(definition.rest_port, definition.health_path),
        )
        mount_scratch(container)
        # The government sync's gRPC API: its own image and process, the same task role (it reaches the
        # table through per-school sessions too), no public port but the ALB's.
        govsync_api = task.add_container(
            definition.govsync_api_container,
            image=repository_image(repo_root, GOVSYNC_API_DOCKERFILE, GOVSYNC_API_CONTEXT_ALLOWLIST),
            # Grading keeps serving if the sync's API stops; ECS restarts the task only for grading.
            essential=False,
            readonly_root_filesystem=True,
            port_mappings=[ecs.PortMapping(container_port=definition.govsync_api_port, name="govsync-grpc")],
            environment=dict(govsync_environment),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=definition.govsync_api_container,
                log_group=log_group,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            ),
        )
        mount_scratch(govsync_api)
        add_collector(task, image=collector_image, log_group=log_group)
        acknowledge(
            task,
            "ECS2",
            "The environment carries resource names and ports only (table, user pool, role ARN, claims, "
            "collector config); there are no secrets to move to Secrets Manager.",
        )
        acknowledge(
            task.obtain_execution_role(),
            "IAM5[Resource::*]",
            "CDK's generated execution-role policy: ecr:GetAuthorizationToken supports no resource-level "
            "permissions. Image pulls and log writes are scoped to the asset repository and this log group.",
        )
