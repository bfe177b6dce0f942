"""The CDK app: composes the stacks from the platform definition (``cdk synth`` runs ``main``).

Stacks are environment-agnostic (no account or region lookups), so synthesis runs offline with no
credentials; the account and region come from the CLI's environment at deploy time.

Deploy-time context (``cdk deploy -c key=value`` or ``cdk.json``):

- ``luca:certificateArn`` (required): the ACM certificate of the ALB's HTTPS listener that internal
  gRPC clients use. There is deliberately no default. ``SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN`` is
  for synthesizing in tests; it names no certificate, so a deploy with it fails at the listener.
- ``luca:collectorImage`` (optional): the ADOT collector image of the tracing sidecars.
- ``luca:ministryUrl`` (required): the base URL (https) of the ministry's records API, which the
  government sync submits to. No default either; ``SYNTH_ONLY_PLACEHOLDER_MINISTRY_URL`` is for tests
  and names no host (``.invalid``).
- ``luca:stage`` (optional, default ``prod``): the stage's name. It names the SSM resources document
  (``/luca/<stage>/resources``) and every alarm's commands (``luca dlq list --stage <stage>``).
- ``luca:schools`` (optional): the school ids that get a ``Luca-P95-Latency-Alert-<school>`` alarm
  at deploy (a JSON list, or comma-separated); onboarding creates the same alarm for a new school
  with boto3 (``school_alarm.AlarmSpec``) until the next deploy lists it. At most
  ``SCHOOL_ALARMS_IN_STACK`` (400): past that, list none; onboarding's alarms are the only ones
  (decision 0012).
- ``luca:alertEmails``, ``luca:alertHttpsEndpoints`` (optional lists): email and https (a paging
  service's webhook) subscriptions of the ``luca-ops-alerts`` topic. An email subscription waits for
  its recipient's confirmation.
- ``luca:alertSlack`` (optional): ``{"workspaceId": "T…", "channelId": "C…"}``, the Slack channel
  AWS Chatbot posts the alerts to (the workspace must be authorized in the Chatbot console once);
  channel members are limited to read-only actions (guardrail ``ReadOnlyAccess``).

The Lambda deployment packages must exist before synthesis: ``make bundle`` writes them to
``IngestDefinition.bundle`` (``dist/ingest-lambda.zip``) and ``GovSyncDefinition.bundle``
(``dist/govsync-lambda.zip``) and ``AnalyticsAwsDefinition.bundle`` (``dist/analytics-lambda.zip``);
``build_app(ingest_bundle=..., govsync_bundle=..., analytics_bundle=...)`` takes other paths (the
infra tests build their own). The images are built at deploy time, each from its service's own lock
(``services/<name>/requirements.lock``, ``make lock``), which must exist at synthesis too.

Stacks: shared ones, then one per deployable, so a deployable ships without deploying another's.

- shared: ``LucaData`` (the table and the tenant role), ``LucaIdentity``, ``LucaObservability`` (the
  ops alerts topic and its subscribers, the per-school p95 alarms, the overview dashboard),
  ``LucaNetwork`` (VPC, ECS cluster, internal ALB with its listeners, the edge's
  VPC-link security group);
- Lambda zips: ``LucaIngest`` (queue, DLQ, grade processor), ``LucaGovSync`` (schedule, state
  machine, task functions, manifests, DLQs), ``LucaAnalytics`` (pipe, enrichment, Firehose, lake,
  Glue, Athena);
- images, each a Fargate service behind the shared ALB: ``LucaGrading``, ``LucaGovSyncApi``,
  ``LucaAnalyticsApi``;
- ``LucaEdge``: the API in front of the ALB's REST listener and the events queue.
- last: ``LucaAudit`` (the CloudTrail trail over the account, the table, the lake and the manifests)
  and ``LucaOperations`` (the stage's resources document in SSM), which name resources of the stacks
  before them.

Order (strong references, which CDK follows): data, identity, observability and network first; the
Lambda stacks next (they import the table and the alerts topic); the service stacks after the
network and, for the analytics API, ``LucaAnalytics`` (the lake's key and the pseudonymisation
secret); the edge after the network and ``LucaIngest``. No shared stack refers to a service's stack:
the tenant role admits the workload roles by name (``PlatformDefinition.school_workload_roles``), and each
service adds its own target groups and rules to the shared listeners. ``cdk deploy <Stack>`` deploys
one service's stack and the shared stacks it depends on; ``--exclusively`` deploys that stack alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from luca_infra.aws.analytics import AnalyticsStack, require_analytics_bundle
from luca_infra.aws.analytics_api import AnalyticsApiStack
from luca_infra.aws.audit import AuditStack
from luca_infra.aws.data import DataStack
from luca_infra.aws.deploy_context import read_operations_context
from luca_infra.aws.edge import EdgeStack
from luca_infra.aws.govsync import GovSyncStack, require_govsync_bundle
from luca_infra.aws.govsync_api import GovSyncApiStack
from luca_infra.aws.grading import IMAGE_DOCKERFILE, GradingStack
from luca_infra.aws.identity import IdentityStack
from luca_infra.aws.ingest import IngestStack, require_bundle
from luca_infra.aws.nag import enable_checks
from luca_infra.aws.observability import ObservabilityStack
from luca_infra.aws.operations import OperationsStack, StageReferences
from luca_infra.aws.public_api_models import export_public_document
from luca_infra.aws.shared import NetworkStack
from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition

CERTIFICATE_ARN_CONTEXT = "luca:certificateArn"
COLLECTOR_IMAGE_CONTEXT = "luca:collectorImage"
MINISTRY_URL_CONTEXT = "luca:ministryUrl"
SYNTH_ONLY_PLACEHOLDER_MINISTRY_URL = "https://records.ministry.invalid"
SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"
)
DEFAULT_COLLECTOR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
# Settings the app pins instead of inheriting CDK's defaults (the CLI's -c still overrides them).
DEFAULT_CONTEXT: dict[str, Any] = {
    # Cross-stack references as CloudFormation exports that protect the producing stack.
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
    # S3 server access logs delivered under a bucket policy for the logging service, so the log
    # bucket keeps ACLs disabled (BucketOwnerEnforced) instead of granting LogDeliveryWrite.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}
# infra/src/luca_infra/aws/app.py -> the repository root (every image's build context, allowlisted).
REPO_ROOT = Path(__file__).resolve().parents[4]


def build_app(
    outdir: str | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    definition: PlatformDefinition = PLATFORM_DEFINITION,
    repo_root: Path = REPO_ROOT,
    ingest_bundle: Path | None = None,
    govsync_bundle: Path | None = None,
    analytics_bundle: Path | None = None,
) -> cdk.App:
    """Compose every stack on a new App; nothing is synthesized until ``app.synth()``.

    ``ingest_bundle`` is the grade processor's zip, ``govsync_bundle`` the government sync's,
    ``analytics_bundle`` the lake enrichment function's; by default ``repo_root /`` the
    definitions' ``bundle`` paths, the files ``make bundle`` writes.
    """
    app = cdk.App(outdir=outdir, context={**DEFAULT_CONTEXT, **(context or {})})
    certificate_arn = app.node.try_get_context(CERTIFICATE_ARN_CONTEXT)
    if not certificate_arn:
        raise ValueError(
            f"set the context value {CERTIFICATE_ARN_CONTEXT} to the ACM certificate ARN of the gRPC "
            f"listener, e.g. `cdk synth -c {CERTIFICATE_ARN_CONTEXT}=arn:aws:acm:...`"
        )
    if not (repo_root / IMAGE_DOCKERFILE).is_file():
        raise FileNotFoundError(
            f"no {IMAGE_DOCKERFILE} under {repo_root}: the image's build context is wrong"
        )
    collector_image = app.node.try_get_context(COLLECTOR_IMAGE_CONTEXT) or DEFAULT_COLLECTOR_IMAGE
    bundle = require_bundle(ingest_bundle or repo_root / definition.ingest.bundle)
    sync_bundle = require_govsync_bundle(govsync_bundle or repo_root / definition.govsync.bundle)
    ministry_url = _ministry_url(app.node.try_get_context(MINISTRY_URL_CONTEXT))
    lake_bundle = require_analytics_bundle(analytics_bundle or repo_root / definition.analytics_aws.bundle)
    operations = read_operations_context(app.node.try_get_context)
    runbook = operations.runbook

    data = DataStack(
        app,
        "LucaData",
        definition=definition.table,
        tenant_role=definition.tenant_role,
        tenant_workloads=definition.school_workload_roles,
        batch_role=definition.batch_role,
        batch_workloads=definition.batch_workload_roles,
        description="Luca: the platform table, the tenant role (per-school access to it) and the batch role",
    )
    identity = IdentityStack(
        app,
        "LucaIdentity",
        definition=definition.user_pool,
        service_identity=definition.service_identity,
        description="Luca: users, groups, app client, service-identity key",
    )
    observability = ObservabilityStack(
        app,
        "LucaObservability",
        definition=definition,
        operations=operations,
        description="Luca: alerts topic and subscribers, per-school latency alarms, dashboard",
    )
    network = NetworkStack(
        app,
        "LucaNetwork",
        certificate_arn=certificate_arn,
        description="Luca: VPC, ECS cluster, internal ALB and its listeners (shared by the services)",
    )
    ingest = IngestStack(
        app,
        "LucaIngest",
        definition=definition,
        table=data.table,
        alerts=observability.alerts,
        bundle=bundle,
        runbook=runbook,
        description="Luca: burst path (events queue, DLQ, grade processor Lambda)",
    )
    govsync = GovSyncStack(
        app,
        "LucaGovSync",
        definition=definition,
        table=data.table,
        alerts=observability.alerts,
        bundle=sync_bundle,
        ministry_url=ministry_url,
        runbook=runbook,
        description="Luca: government sync (schedule, state machine, task Lambdas, manifests, DLQs)",
    )
    analytics = AnalyticsStack(
        app,
        "LucaAnalytics",
        definition=definition,
        table=data.table,
        alerts=observability.alerts,
        bundle=lake_bundle,
        description="Luca: analytics lake (stream pipe, enrichment Lambda, Firehose to Parquet, Glue, Athena)",
    )
    # Each service behind the shared ALB is a stack of its own: one ships without rolling the others.
    GradingStack(
        app,
        "LucaGrading",
        definition=definition,
        front=network.front,
        table=data.table,
        user_pool=identity.user_pool,
        user_pool_client=identity.client,
        service_identity=identity.service_identity,
        repo_root=repo_root,
        collector_image=collector_image,
        description="Luca: grading service (ECS Fargate behind the shared ALB, REST and gRPC)",
    )
    GovSyncApiStack(
        app,
        "LucaGovSyncApi",
        definition=definition,
        front=network.front,
        table=data.table,
        user_pool=identity.user_pool,
        user_pool_client=identity.client,
        service_identity=identity.service_identity,
        repo_root=repo_root,
        collector_image=collector_image,
        description="Luca: government sync gRPC API (ECS Fargate behind the shared ALB)",
    )
    AnalyticsApiStack(
        app,
        "LucaAnalyticsApi",
        definition=definition,
        front=network.front,
        table=data.table,
        user_pool=identity.user_pool,
        user_pool_client=identity.client,
        service_identity=identity.service_identity,
        repo_root=repo_root,
        collector_image=collector_image,
        lake=analytics.query_access,
        description="Luca: analytics report service (ECS Fargate behind the shared ALB, Athena over the lake)",
    )
    EdgeStack(
        app,
        "LucaEdge",
        definition=definition,
        user_pool=identity.user_pool,
        user_pool_client=identity.client,
        repo_root=repo_root,
        vpc=network.vpc,
        link_subnets=network.private_subnets,
        link_security_group=network.edge_link_security_group,
        load_balancer=network.load_balancer,
        events_queue=ingest.queue,
        description="Luca: REST API, authorizer, WAF, burst routes into the events queue",
    )
    AuditStack(
        app,
        "LucaAudit",
        definition=definition,
        table=data.table,
        data_buckets={"lake": analytics.lake, "manifests": govsync.manifests},
        description="Luca: CloudTrail (management events; data events on the table, lake and manifests)",
    )
    OperationsStack(
        app,
        "LucaOperations",
        definition=definition,
        stage=operations.stage,
        references=StageReferences(
            table_name=data.table.table_name,
            events_queue_url=ingest.queue.queue_url,
            events_dlq_url=ingest.dead_letters.queue_url,
            govsync_state_machine_arn=govsync.state_machine.state_machine_arn,
            govsync_dlq_url=govsync.dead_letters.queue_url,
            govsync_manifest_bucket=govsync.manifests.bucket_name,
            lake_bucket=analytics.lake.bucket_name,
            lake_key_arn=analytics.lake_key.key_arn,
            user_pool_id=identity.user_pool.user_pool_id,
            user_pool_arn=identity.user_pool.user_pool_arn,
        ),
        description="Luca: the stage's resources document (SSM), what `luca … --stage` reads",
    )
    enable_checks(app)
    export_public_document(app)
    return app


def _ministry_url(value: object) -> str:
    if not value:
        raise ValueError(
            f"set the context value {MINISTRY_URL_CONTEXT} to the ministry records API's base URL, "
            f"e.g. `cdk synth -c {MINISTRY_URL_CONTEXT}=https://...`"
        )
    url = str(value).rstrip("/")
    if not url.startswith("https://") or len(url) <= len("https://"):
        raise ValueError(
            f"{MINISTRY_URL_CONTEXT} must be an https URL (the client sends credentials): {url!r}"
        )
    return url


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
