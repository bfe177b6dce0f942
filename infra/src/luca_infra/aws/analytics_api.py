"""The analytics query service in AWS: its own Fargate service behind the grading ALB, querying the
lake through Athena.

    API Gateway /v1/{proxy+} (Cognito) ─► VPC link ─► ALB REST listener ─ /v1/analytics* ─► analytics-api :8082
    internal gRPC clients ─► ALB HTTPS listener ─ /luca.analytics.v1.AnalyticsService/* ─► analytics-api :50053
    analytics-api ─► Athena workgroup luca-analytics ─► Glue luca_lake.grades (projection) ─► s3://luca-lake-…/lake/grades/

Why its own service, not a container in the grading task (as the government sync's API is): ECS
gives one task role per *task*, not per container, and the lake holds minors' grades and behavior
notes for every school. Reading it takes Athena in the workgroup, the Glue table, ``s3:GetObject`` on
the whole lake prefix and ``kms:Decrypt`` on the lake's key: grants no IAM condition can narrow to one
school (the query side's isolation is the service binding the verified school as the first execution
parameter, and the injected projection refusing a query that names none). In the grading task those
grants would go to every container in it, including the grading service that answers every
teacher's writes; in a task of its own they belong to the one process that needs them. The
pseudonymisation key follows the same line: it is an ECS ``secrets`` entry, read by this task's
*execution* role at start, never by any task role. A separate service also keeps a slow report
(seconds of Athena) from holding the grading tasks' threads and skewing their CPU scaling, at the cost
of two more small always-on tasks. The ALB, the cluster, the tenant role and the network stay shared.

Permissions of the task role, each on its one resource:

- Athena: start, get, stop a query and read its results, in the ``luca-analytics`` workgroup only
  (which enforces its result location, encryption and scan cutoff).
- Glue: ``GetDatabase``/``GetTable``/``GetPartitions`` on the catalog, ``luca_lake`` and
  ``luca_lake.grades``.
- S3: read objects under ``lake/grades/`` of the lake bucket, list it only with that prefix; read and
  write Athena's results bucket (Athena writes each query's output there as the caller).
- KMS: decrypt and generate data keys with the lake's key, only through S3 and only for those two
  buckets (bucket keys: the encryption context is the bucket).
- The tenant role, one school per session (rules and roster from the table), the service-identity
  key's public half (service tokens), and X-Ray writes for the tracing sidecar.

Cross-stack references: ``LucaAnalytics`` is created before ``LucaGrading`` (``app.py``). Everything
with a name fixed by the definitions (the buckets, whose names are built by ``analytics.lake_bucket_name``
for both stacks, the Glue database and table, the workgroup) is named here from the definitions, as
the government sync's state machine is, so the policies read the same in every account and no export
pins them. Only the lake's KMS key and the pseudonymisation secret, which have no buildable name, come
by reference (``LakeQueryAccess``): two exports from ``LucaAnalytics``, and no reference the other way,
so no cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from luca_analytics.adapters.lake_schema import LAKE_PREFIX
from luca_infra.aws.analytics import LakeQueryAccess, athena_results_bucket_name, lake_bucket_name
from luca_infra.aws.containers import (
    LOG_RETENTION,
    SCRATCH_VOLUME,
    add_collector,
    http_health_check,
    mount_scratch,
    repository_image,
)
from luca_infra.aws.identity import ServiceIdentityKey
from luca_infra.aws.load_balancer import InternalLoadBalancer
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.tenant_access import admit_for_school, grant_assume_tenant_role
from luca_infra.definitions import PlatformDefinition

ANALYTICS_API_DOCKERFILE = "services/analytics/Dockerfile"
ANALYTICS_API_CONTEXT_ALLOWLIST = (
    "*",
    "!requirements.lock",
    "!proto/python",
    "!services/grading/pyproject.toml",
    "!services/grading/src",
    "!services/analytics/Dockerfile",
    "!services/analytics/pyproject.toml",
    "!services/analytics/src",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
)
ATHENA_QUERY_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
)
GLUE_READ_ACTIONS = ("glue:GetDatabase", "glue:GetTable", "glue:GetPartitions")


class AnalyticsApi(Construct):
    """The query service: task role, task definition (service + tracing sidecar), Fargate service
    registered with the ALB's analytics target groups."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        cluster: ecs.ICluster,
        subnets: ec2.SubnetSelection,
        front: InternalLoadBalancer,
        tenant_role: iam.Role,
        service_identity: ServiceIdentityKey,
        environment: Mapping[str, str],
        lake: LakeQueryAccess,
        repo_root: Path,
        collector_image: str,
    ) -> None:
        super().__init__(scope, construct_id)
        service = definition.grading
        stack = cdk.Stack.of(self)

        # -- identity ------------------------------------------------------------------------------
        # Only ECS tasks of this account may wear it (confused-deputy guard), as the grading task role.
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": stack.format_arn(service="ecs", resource="*")},
                }
            ),
            description="Analytics query service: Athena in its workgroup over the lake; one school per table session",
        )
        self._grant_lake_queries(definition, lake)
        # Rules and roster come from the table, one school per session, like the grading service.
        admit_for_school(tenant_role, self.task_role, definition.tenant_role)
        grant_assume_tenant_role(self.task_role, tenant_role.role_arn)
        # It verifies internal callers' service tokens: the public half of the key, never Sign.
        service_identity.grant_verify(self.task_role)
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

        # -- task ----------------------------------------------------------------------------------
        task = ecs.FargateTaskDefinition(
            self,
            "Definition",
            cpu=service.analytics_cpu,
            memory_limit_mib=service.analytics_memory_mib,
            task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            volumes=[ecs.Volume(name=SCRATCH_VOLUME)],
        )
        self.task_definition = task
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        container = task.add_container(
            service.analytics_api_container,
            image=repository_image(repo_root, ANALYTICS_API_DOCKERFILE, ANALYTICS_API_CONTEXT_ALLOWLIST),
            essential=True,
            readonly_root_filesystem=True,
            port_mappings=[
                ecs.PortMapping(container_port=service.analytics_rest_port, name="analytics-rest"),
                ecs.PortMapping(container_port=service.analytics_grpc_port, name="analytics-grpc"),
            ],
            environment=dict(environment),
            # Read by the execution role when the task starts; the task role cannot read the secret.
            secrets={"LUCA_PSEUDONYM_KEY": ecs.Secret.from_secrets_manager(lake.pseudonym_key)},
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=service.analytics_api_container,
                log_group=log_group,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            ),
            health_check=http_health_check(service.analytics_rest_port, service.health_path),
        )
        mount_scratch(container)
        add_collector(task, image=collector_image, log_group=log_group)
        acknowledge(
            task,
            "ECS2",
            "The environment carries resource names, ports and claims only (table, user pool, role ARN, "
            "workgroup, Glue names); the one secret, the pseudonymisation key, is an ECS secrets entry.",
        )
        acknowledge(
            task.obtain_execution_role(),
            "IAM5[Resource::*]",
            "CDK's generated execution-role policy: ecr:GetAuthorizationToken supports no resource-level "
            "permissions. Image pulls, log writes and the one secret read are scoped to their resources.",
        )

        # -- service -------------------------------------------------------------------------------
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=cluster.vpc,
            description="Analytics tasks: REST and gRPC from the ALB only",
            # Tasks call AWS endpoints and the NAT (JWKS, collector image); nothing inbound but the ALB.
            allow_all_outbound=True,
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            desired_count=service.analytics_min_tasks,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            assign_public_ip=False,
            health_check_grace_period=cdk.Duration.seconds(60),
        )
        for port, targets in (
            (service.analytics_rest_port, front.analytics_rest_targets),
            (service.analytics_grpc_port, front.analytics_grpc_targets),
        ):
            targets.add_target(
                self.service.load_balancer_target(
                    container_name=service.analytics_api_container, container_port=port
                )
            )
            self.security_group.connections.allow_from(
                front.security_group, ec2.Port.tcp(port), "from the grading ALB"
            )
        scaling = self.service.auto_scale_task_count(
            min_capacity=service.analytics_min_tasks, max_capacity=service.analytics_max_tasks
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=service.target_cpu_percent,
            scale_out_cooldown=cdk.Duration.seconds(60),
            scale_in_cooldown=cdk.Duration.seconds(300),
        )

    def _grant_lake_queries(self, definition: PlatformDefinition, lake: LakeQueryAccess) -> None:
        analytics = definition.analytics_aws
        stack = cdk.Stack.of(self)
        lake_arn = f"arn:{stack.partition}:s3:::{lake_bucket_name(analytics)}"
        results_arn = f"arn:{stack.partition}:s3:::{athena_results_bucket_name(analytics)}"
        lake_objects = f"{lake_arn}/{LAKE_PREFIX}/*"
        results_objects = f"{results_arn}/*"
        role = self.task_role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AthenaQueriesInTheWorkgroup",
                actions=list(ATHENA_QUERY_ACTIONS),
                resources=[
                    stack.format_arn(
                        service="athena", resource="workgroup", resource_name=analytics.workgroup_name
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeTableSchema",
                actions=list(GLUE_READ_ACTIONS),
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(
                        service="glue", resource="database", resource_name=analytics.glue_database
                    ),
                    stack.format_arn(
                        service="glue",
                        resource="table",
                        resource_name=f"{analytics.glue_database}/{analytics.glue_table}",
                    ),
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeListOnlyTheGradesPrefix",
                actions=["s3:ListBucket"],
                resources=[lake_arn],
                conditions={"StringLike": {"s3:prefix": [f"{LAKE_PREFIX}/*"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeBucketLocation", actions=["s3:GetBucketLocation"], resources=[lake_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="LakeReadGrades", actions=["s3:GetObject"], resources=[lake_objects])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AthenaResultsBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[results_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AthenaResultsObjects",
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                resources=[results_objects],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeKeyThroughS3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[lake.lake_key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}"},
                    # With bucket keys the encryption context is the bucket's ARN.
                    "ArnLike": {
                        "kms:EncryptionContext:aws:s3:arn": [
                            lake_arn,
                            lake_objects,
                            results_arn,
                            results_objects,
                        ]
                    },
                },
            )
        )
        acknowledge(
            role,
            f"IAM5[Resource::arn:<AWS::Partition>:s3:::{analytics.lake_bucket_prefix}-<AWS::AccountId>-<AWS::Region>/{LAKE_PREFIX}/*]",
            "Athena reads the Parquet objects of the school's projected partitions under the lake prefix, "
            "named by Firehose per delivery; read only, this prefix only (not the error prefix), and the "
            "query service binds the verified school so projection lists only that school's objects.",
        )
        acknowledge(
            role,
            f"IAM5[Resource::arn:<AWS::Partition>:s3:::{analytics.athena_results_bucket_prefix}-<AWS::AccountId>-<AWS::Region>/*]",
            "Athena writes each query's result and metadata objects, named by query execution id, to the "
            "workgroup's results bucket as the caller and reads them back; that bucket holds nothing else.",
        )
