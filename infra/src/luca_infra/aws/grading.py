"""``LucaGrading``: the grading service on ECS Fargate behind the shared internal ALB (docs/decisions/0001-fargate-not-app-runner.md).

- Always warm: at least ``min_tasks`` tasks, scaling on CPU up to ``max_tasks``; deployments never
  drop below the minimum.
- REST reaches it from API Gateway's VPC link on the shared ALB's plain-HTTP listener, gRPC from
  internal clients on its HTTPS listener (gRPC on ALB needs TLS). Its rules take every path no other
  service's rule claims (``load_balancer.RULE_PRIORITIES``), as the listeners' default once did.
- The image is a CDK asset: synth only stages an allowlisted copy of the repository (no Docker);
  the CLI builds and pushes it at deploy time. The copy holds this service, the libraries it uses,
  the generated contracts and its own lock, never another service's package.
- The task role may only assume the tenant role (one school per session, see ``tenant_access``),
  verify service tokens and write traces. The government sync's API and the analytics query service
  are stacks of their own (``govsync_api``, ``analytics_api``) with their own task roles: nothing of
  theirs is in this task, so each ships without rolling grading, and grading's role holds none of
  their grants.

- The page cursors' HMAC key is a Secrets Manager secret of this stack (generated, never in the
  template), injected by ECS as ``LUCA_CURSOR_KEYS``: only the execution role reads it, at task start.
  It holds comma-separated keys, the first signing and all verifying, so a key is rotated by hand
  with an overlap (new key first, new deployment, old key dropped after the cursors' day).

What it takes from other stacks: the network, cluster and listeners (``LucaNetwork``), the table's
name (``LucaData``), the user pool and the service-identity key (``LucaIdentity``). The tenant role's
ARN it builds from the definition's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from luca_grading.config import GradingSettings
from luca_infra.aws.constructs import Listener, LoadBalancedFargateService, Route, SharedFront
from luca_infra.aws.containers import OTLP_HTTP_ENDPOINT, http_health_check, repository_image
from luca_infra.aws.identity import ServiceIdentityKey
from luca_infra.aws.load_balancer import CATCH_ALL_PATH, RULE_PRIORITIES
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.tenant_access import grant_assume_tenant_role, tenant_role_arn
from luca_infra.definitions import PlatformDefinition

# What the image build may see, relative to the repository root (Docker ignore syntax: exclude all,
# then re-include). An allowlist, so a new top-level directory never leaks into the build context:
# the generated contracts, the libraries, and this service with its lock (no tests).
IMAGE_DOCKERFILE = "services/grading/Dockerfile"
IMAGE_CONTEXT_ALLOWLIST = (
    "*",
    "!proto/python",
    "!libs/kernel",
    "!libs/platform",
    "!services/grading",
    "libs/kernel/tests",
    "libs/platform/tests",
    "services/grading/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
)
# The grading service's setting ``cursor_keys`` (comma-separated; the first signs).
CURSOR_KEYS_ENV = "LUCA_CURSOR_KEYS"
# Letters and digits only: a comma or other punctuation would split or spoil the list.
CURSOR_KEY_LENGTH = 64


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
        service = definition.grading
        tenant_role = tenant_role_arn(self, definition.tenant_role)
        self.cursor_key = secretsmanager.Secret(
            self,
            "CursorKey",
            description="HMAC keys of the grading service's page cursors: comma-separated, the first signs",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=CURSOR_KEY_LENGTH, exclude_punctuation=True
            ),
        )
        acknowledge(
            self.cursor_key,
            "SMG4",
            "Rotated by hand with an overlap, never on a timer: the secret holds several keys, the first "
            "signing and all verifying, so a rotation puts a new key first, redeploys, and drops the old "
            "key once its cursors (valid a day) have expired. A managed rotation replaces the value "
            "outright, refusing every cursor in flight, and tasks read the secret only when they start.",
        )
        # Resource names only; the one secret, the cursor key, is an ECS secrets entry.
        environment = {
            setting_env("service_name"): service.name,
            setting_env("aws_region"): self.region,
            setting_env("table_name"): table.table_name,
            setting_env("user_pool_id"): user_pool.user_pool_id,
            setting_env("user_pool_client_id"): user_pool_client.user_pool_client_id,
            setting_env("school_claim"): definition.user_pool.school_claim,
            setting_env("student_claim"): definition.user_pool.student_claim,
            setting_env("tenant_role_arn"): tenant_role,
            setting_env("tenant_session_seconds"): str(definition.tenant_role.session_duration_seconds),
            setting_env("tenant_refresh_margin_seconds"): str(definition.tenant_role.refresh_margin_seconds),
            setting_env("service_token_key_id"): service_identity.key.key_arn,
            setting_env("rest_port"): str(service.rest_port),
            setting_env("grpc_port"): str(service.grpc_port),
            setting_env("metrics_namespace"): definition.metrics_namespace,
            # The platform's one body limit, as the WAF's size rule enforces it before the service.
            setting_env("max_body_bytes"): str(definition.request_body_limit_bytes),
            setting_env("otel_exporter"): "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{OTLP_HTTP_ENDPOINT}",
        }
        self.grading = LoadBalancedFargateService(
            self,
            "Service",
            front=front,
            description="Grading tasks",
            log_group_name=definition.grading.log_group_name,
            container_name=service.container,
            image=repository_image(repo_root, IMAGE_DOCKERFILE, IMAGE_CONTEXT_ALLOWLIST),
            task_role_name=service.task_role_name,
            task_role_description="Grading tasks: may only assume the tenant role, one school per session",
            cpu=service.cpu,
            memory_mib=service.memory_mib,
            min_tasks=service.min_tasks,
            max_tasks=service.max_tasks,
            target_cpu_percent=service.target_cpu_percent,
            environment=environment,
            environment_reason=(
                "The environment carries resource names and ports only (table, user pool, role ARN, claims, "
                "collector config); the one secret, the cursor key, is an ECS secrets entry."
            ),
            secrets={CURSOR_KEYS_ENV: ecs.Secret.from_secrets_manager(self.cursor_key)},
            routes=[
                Route(
                    listener=Listener.REST,
                    port=service.rest_port,
                    port_name="rest",
                    paths=(CATCH_ALL_PATH,),
                    priority=RULE_PRIORITIES[Listener.REST]["grading"],
                    health_path=service.health_path,
                ),
                Route(
                    listener=Listener.GRPC,
                    port=service.grpc_port,
                    port_name="grpc",
                    paths=(CATCH_ALL_PATH,),
                    priority=RULE_PRIORITIES[Listener.GRPC]["grading"],
                ),
            ],
            health_check=http_health_check(service.rest_port, service.health_path),
            # Never block a request on CloudWatch Logs back-pressure (p95 budget: 120 ms).
            log_max_buffer=cdk.Size.mebibytes(25),
            collector_image=collector_image,
        )
        self.task_role = self.grading.task_role
        grant_assume_tenant_role(self.task_role, tenant_role)
        # The service verifies internal callers' tokens: the public half of the key, never Sign.
        service_identity.grant_verify(self.task_role)
