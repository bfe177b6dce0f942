"""``LucaAnalyticsApi``: the analytics query service on Fargate behind the shared ALB, querying the
lake through Athena.

    API Gateway /v1/{proxy+} (Cognito) ─► VPC link ─► ALB REST listener ─ /v1/analytics* ─► analytics-api :8082
    internal gRPC clients ─► ALB HTTPS listener ─ /luca.analytics.v1.AnalyticsService/* ─► analytics-api :50053
    analytics-api ─► Athena workgroup luca-analytics ─► Glue luca_lake.grades (projection) ─► s3://luca-lake-…/lake/grades/

A stack of its own, so the report service ships without rolling grading (it used to live in the
grading stack), and a task of its own because ECS gives one task role per *task*, not per container,
and the lake holds minors' grades and behavior notes for every school. Reading it takes Athena in the
workgroup, the Glue table, ``s3:GetObject`` on the whole lake prefix and ``kms:Decrypt`` on the lake's
key: grants no IAM condition can narrow to one school (the query side's isolation is the service
binding the verified school as the first execution parameter, and the injected projection refusing a
query that names none). In a task of their own they belong to the one process that needs them. The
pseudonymisation key follows the same line: it is an ECS ``secrets`` entry, read by this task's
*execution* role at start, never by any task role. A separate service also keeps a slow report
(seconds of Athena) from holding the grading tasks' threads and skewing their CPU scaling. The ALB,
the cluster and the network are ``LucaNetwork``'s, the tenant role ``LucaData``'s.

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

Cross-stack references: ``LucaAnalytics`` is deployed before this stack. Everything with a name fixed
by the definitions (the buckets, whose names are built by ``analytics.lake_bucket_name`` for both
stacks, the Glue database and table, the workgroup) is named here from the definitions, so the
policies read the same in every account and no export pins them. Only the lake's KMS key and the
pseudonymisation secret, which have no buildable name, come by reference (``LakeQueryAccess``): two
exports from ``LucaAnalytics``, and no reference the other way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from luca_analytics.definition import LAKE_PREFIX
from luca_infra.aws.analytics import LakeQueryAccess, athena_results_bucket_name, lake_bucket_name
from luca_infra.aws.constructs import Listener, LoadBalancedFargateService, Route, SharedFront
from luca_infra.aws.containers import OTLP_HTTP_ENDPOINT, http_health_check, repository_image
from luca_infra.aws.identity import ServiceIdentityKey
from luca_infra.aws.load_balancer import RULE_PRIORITIES
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.tenant_access import grant_assume_tenant_role, tenant_role_arn
from luca_infra.definitions import PlatformDefinition

ANALYTICS_API_DOCKERFILE = "services/analytics/Dockerfile"
ANALYTICS_API_CONTEXT_ALLOWLIST = (
    "*",
    "!proto/python",
    "!libs/kernel",
    "!libs/platform",
    "!services/analytics",
    "libs/kernel/tests",
    "libs/platform/tests",
    "services/analytics/tests",
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


class AnalyticsApiStack(cdk.Stack):
    """The query service: its Fargate service (task role, task, sidecar, routes) and the lake grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        front: SharedFront,
        table: dynamodb.ITable,
        user_pool: cognito.IUserPool,
        user_pool_client: cognito.IUserPoolClient,
        service_identity: ServiceIdentityKey,
        lake: LakeQueryAccess,
        repo_root: Path,
        collector_image: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        service = definition.analytics_api
        analytics = definition.analytics_aws
        tenant_role = tenant_role_arn(self, definition.tenant_role)
        self.api = LoadBalancedFargateService(
            self,
            "Service",
            front=front,
            description="Analytics tasks",
            log_group_name=definition.analytics_api.log_group_name,
            container_name=service.container,
            image=repository_image(repo_root, ANALYTICS_API_DOCKERFILE, ANALYTICS_API_CONTEXT_ALLOWLIST),
            task_role_name=service.task_role_name,
            task_role_description=(
                "Analytics query service: Athena in its workgroup over the lake; one school per table session"
            ),
            cpu=service.cpu,
            memory_mib=service.memory_mib,
            min_tasks=service.min_tasks,
            max_tasks=service.max_tasks,
            target_cpu_percent=service.target_cpu_percent,
            environment={
                "LUCA_AWS_REGION": self.region,
                "LUCA_TABLE_NAME": table.table_name,
                "LUCA_USER_POOL_ID": user_pool.user_pool_id,
                "LUCA_USER_POOL_CLIENT_ID": user_pool_client.user_pool_client_id,
                "LUCA_SCHOOL_CLAIM": definition.user_pool.school_claim,
                "LUCA_STUDENT_CLAIM": definition.user_pool.student_claim,
                "LUCA_TENANT_ROLE_ARN": tenant_role,
                "LUCA_SERVICE_TOKEN_KEY_ID": service_identity.key.key_arn,
                "LUCA_ATHENA_WORKGROUP": analytics.workgroup_name,
                "LUCA_ATHENA_DATABASE": analytics.glue_database,
                "LUCA_ATHENA_TABLE": analytics.glue_table,
                "LUCA_REST_PORT": str(service.rest_port),
                "LUCA_GRPC_PORT": str(service.grpc_port),
                "LUCA_OTEL_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{OTLP_HTTP_ENDPOINT}",
            },
            environment_reason=(
                "The environment carries resource names, ports and claims only (table, user pool, role ARN, "
                "workgroup, Glue names); the one secret, the pseudonymisation key, is an ECS secrets entry."
            ),
            secrets={"LUCA_PSEUDONYM_KEY": ecs.Secret.from_secrets_manager(lake.pseudonym_key)},
            routes=[
                Route(
                    listener=Listener.REST,
                    port=service.rest_port,
                    port_name="analytics-rest",
                    paths=(service.rest_path,),
                    priority=RULE_PRIORITIES[Listener.REST]["analytics-api"],
                    health_path=service.health_path,
                ),
                Route(
                    listener=Listener.GRPC,
                    port=service.grpc_port,
                    port_name="analytics-grpc",
                    paths=(service.grpc_path,),
                    priority=RULE_PRIORITIES[Listener.GRPC]["analytics-api"],
                ),
            ],
            health_check=http_health_check(service.rest_port, service.health_path),
            collector_image=collector_image,
        )
        self.task_role = self.api.task_role
        self._grant_lake_queries(definition, lake)
        # Rules and roster come from the table, one school per session, like the grading service.
        grant_assume_tenant_role(self.task_role, tenant_role)
        # It verifies internal callers' service tokens: the public half of the key, never Sign.
        service_identity.grant_verify(self.task_role)

    def _grant_lake_queries(self, definition: PlatformDefinition, lake: LakeQueryAccess) -> None:
        analytics = definition.analytics_aws
        lake_arn = f"arn:{self.partition}:s3:::{lake_bucket_name(analytics)}"
        results_arn = f"arn:{self.partition}:s3:::{athena_results_bucket_name(analytics)}"
        lake_objects = f"{lake_arn}/{LAKE_PREFIX}/*"
        results_objects = f"{results_arn}/*"
        role = self.task_role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AthenaQueriesInTheWorkgroup",
                actions=list(ATHENA_QUERY_ACTIONS),
                resources=[
                    self.format_arn(
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
                    self.format_arn(service="glue", resource="catalog"),
                    self.format_arn(
                        service="glue", resource="database", resource_name=analytics.glue_database
                    ),
                    self.format_arn(
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
                    "StringEquals": {"kms:ViaService": f"s3.{self.region}.{self.url_suffix}"},
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
