"""``LucaGovSyncApi``: the government sync's gRPC API (``luca.govsync.v1.GovSyncService``) on Fargate.

    internal gRPC clients ─► shared ALB HTTPS listener ─ /luca.govsync.v1.GovSyncService/* ─► govsync-api :50052
    govsync-api ─► Step Functions luca-government-sync (start, describe) and the table (one school per session)

A service of its own behind the shared load balancer, image ``services/govsync/Dockerfile``
(entrypoint ``luca-govsync-api``), built from the government sync's package, the libraries and the
generated contracts only. It used to be a second container in the grading task; now it ships
without rolling grading, and grading's task role no longer holds its Step Functions grants.

Its task role may start executions of the sync's state machine and describe them, assume the
tenant role for one school at a time, verify service tokens (the key's public half) and write traces
(the collector sidecar). The state machine is named by the definition, so its ARN is built here and
this stack does not depend on ``LucaGovSync``: either deploys alone (until the state machine exists,
starting a sync fails).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from luca_infra.aws.constructs import Listener, LoadBalancedFargateService, Route, SharedFront
from luca_infra.aws.containers import repository_image
from luca_infra.aws.identity import ServiceIdentityKey
from luca_infra.aws.load_balancer import RULE_PRIORITIES
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.tenant_access import grant_assume_tenant_role, tenant_role_arn
from luca_infra.definitions import PlatformDefinition

GOVSYNC_API_DOCKERFILE = "services/govsync/Dockerfile"
GOVSYNC_API_CONTEXT_ALLOWLIST = (
    "*",
    "!proto/python",
    "!libs/kernel",
    "!libs/platform",
    "!services/govsync",
    "libs/kernel/tests",
    "libs/platform/tests",
    "services/govsync/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
)


class GovSyncApiStack(cdk.Stack):
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
        repo_root: Path,
        collector_image: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        api = definition.govsync_api
        govsync = definition.govsync
        tenant_role = tenant_role_arn(self, definition.tenant_role)
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
        # The sync's DLQ (LucaGovSync) by name, as the state machine: no cross-stack export to pin.
        dead_letters_arn = self.format_arn(service="sqs", resource=govsync.dlq_name)
        dead_letters_url = f"https://sqs.{self.region}.{self.url_suffix}/{self.account}/{govsync.dlq_name}"
        self.api = LoadBalancedFargateService(
            self,
            "Service",
            front=front,
            description="Government sync API tasks",
            log_group_name=definition.govsync_api.log_group_name,
            container_name=api.container,
            image=repository_image(repo_root, GOVSYNC_API_DOCKERFILE, GOVSYNC_API_CONTEXT_ALLOWLIST),
            task_role_name=api.task_role_name,
            task_role_description=(
                "Government sync API tasks: start and follow the sync's executions; table only as one school"
            ),
            cpu=api.cpu,
            memory_mib=api.memory_mib,
            min_tasks=api.min_tasks,
            max_tasks=api.max_tasks,
            target_cpu_percent=api.target_cpu_percent,
            # What luca_govsync.config.ApiSettings reads; resource names and ports only.
            environment={
                "LUCA_AWS_REGION": self.region,
                "LUCA_TABLE_NAME": table.table_name,
                "LUCA_STATE_MACHINE_ARN": state_machine_arn,
                "LUCA_USER_POOL_ID": user_pool.user_pool_id,
                "LUCA_USER_POOL_CLIENT_ID": user_pool_client.user_pool_client_id,
                "LUCA_SCHOOL_CLAIM": definition.user_pool.school_claim,
                "LUCA_STUDENT_CLAIM": definition.user_pool.student_claim,
                "LUCA_TENANT_ROLE_ARN": tenant_role,
                "LUCA_SERVICE_TOKEN_KEY_ID": service_identity.key.key_arn,
                "LUCA_GRPC_PORT": str(api.grpc_port),
                "LUCA_DLQ_URL": dead_letters_url,
            },
            environment_reason=(
                "The environment carries resource names, ports and claims only (table, state machine, user "
                "pool, role ARN, key id); there are no secrets to move to Secrets Manager."
            ),
            routes=[
                Route(
                    listener=Listener.GRPC,
                    port=api.grpc_port,
                    port_name="govsync-grpc",
                    paths=(api.grpc_path,),
                    priority=RULE_PRIORITIES[Listener.GRPC]["govsync-api"],
                )
            ],
            collector_image=collector_image,
        )
        self.task_role = self.api.task_role
        grant_assume_tenant_role(self.task_role, tenant_role)
        # It verifies internal callers' service tokens: the public half of the key, never Sign.
        service_identity.grant_verify(self.task_role)
        iam.Grant.add_to_principal(
            grantee=self.task_role, actions=["states:StartExecution"], resource_arns=[state_machine_arn]
        )
        iam.Grant.add_to_principal(
            grantee=self.task_role, actions=["states:DescribeExecution"], resource_arns=[executions_arn]
        )
        # ListDeadLetters / RedriveDeadLetters: read, hide while filtering by school, delete what was resent.
        iam.Grant.add_to_principal(
            grantee=self.task_role,
            actions=["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"],
            resource_arns=[dead_letters_arn],
        )
        acknowledge(
            self.task_role,
            f"IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{govsync.state_machine_name}:*]",
            "DescribeExecution on the government sync's own executions, whose names are only known when they "
            "start (one per school and period); no other state machine.",
        )
