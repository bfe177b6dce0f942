"""The CDK app: composes the stacks from the platform definition (``cdk synth`` runs ``main``).

Stacks are environment-agnostic (no account or region lookups), so synthesis runs offline with no
credentials; the account and region come from the CLI's environment at deploy time.

Deploy-time context (``cdk deploy -c key=value`` or ``cdk.json``):

- ``luca:certificateArn`` (required): the ACM certificate of the ALB's HTTPS listener that internal
  gRPC clients use. There is deliberately no default. ``SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN`` is
  for synthesizing in tests; it names no certificate, so a deploy with it fails at the listener.
- ``luca:collectorImage`` (optional): the ADOT collector image of the tracing sidecar.
- ``luca:ministryUrl`` (required): the base URL (https) of the ministry's records API, which the
  government sync submits to. No default either; ``SYNTH_ONLY_PLACEHOLDER_MINISTRY_URL`` is for tests
  and names no host (``.invalid``).

The Lambda deployment packages must exist before synthesis: ``make bundle`` writes them to
``IngestDefinition.bundle`` (``dist/ingest-lambda.zip``) and ``GovSyncDefinition.bundle``
(``dist/govsync-lambda.zip``) and ``AnalyticsAwsDefinition.bundle`` (``dist/analytics-lambda.zip``);
``build_app(ingest_bundle=..., govsync_bundle=..., analytics_bundle=...)`` takes other paths (the
infra tests build their own).

Stack order (strong references): data and identity; observability (the ops alerts topic); ingest
(queue, DLQ alarm on that topic, grade processor); govsync (the government sync's schedule, state
machine, functions, manifests and DLQs, alarms on that topic); analytics (the table's stream through
a pipe and Firehose into the Parquet lake, the Glue table and the Athena workgroup, alarms on the ops
topic); grading (its tenant role's trust admits the grade processor's and the government sync tasks'
roles; the analytics query service beside it takes the lake's key and the pseudonymisation secret
from the analytics stack); edge (the API in front of the grading ALB and the queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from luca_infra.aws.analytics import AnalyticsStack, require_analytics_bundle
from luca_infra.aws.data import DataStack
from luca_infra.aws.edge import EdgeStack
from luca_infra.aws.govsync import GovSyncStack, require_govsync_bundle
from luca_infra.aws.grading import IMAGE_DOCKERFILE, GradingStack
from luca_infra.aws.identity import IdentityStack
from luca_infra.aws.ingest import IngestStack, require_bundle
from luca_infra.aws.nag import enable_checks
from luca_infra.aws.observability import ObservabilityStack
from luca_infra.aws.tenant_access import admit_for_school
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
# infra/src/luca_infra/aws/app.py -> the repository root (the grading image's build context).
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

    data = DataStack(app, "LucaData", definition=definition.table, description="Luca: the platform table")
    identity = IdentityStack(
        app,
        "LucaIdentity",
        definition=definition.user_pool,
        service_identity=definition.service_identity,
        description="Luca: users, groups, app client, service-identity key",
    )
    observability = ObservabilityStack(
        app, "LucaObservability", definition=definition, description="Luca: alerts topic, alarm, dashboard"
    )
    ingest = IngestStack(
        app,
        "LucaIngest",
        definition=definition,
        table=data.table,
        alerts=observability.alerts,
        bundle=bundle,
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
    grading = GradingStack(
        app,
        "LucaGrading",
        definition=definition,
        table=data.table,
        user_pool=identity.user_pool,
        user_pool_client=identity.client,
        service_identity=identity.service_identity,
        certificate_arn=certificate_arn,
        repo_root=repo_root,
        collector_image=collector_image,
        lake=analytics.query_access,
        description="Luca: grading and analytics services (ECS Fargate, ALB, per-school data access)",
    )
    # The grade processor acts for one school at a time through the same tenant role.
    admit_for_school(grading.tenant_role, ingest.processor_role, definition.tenant_role)
    # So do the government sync's tasks, reading a school's grades and writing its sync's state.
    admit_for_school(grading.tenant_role, govsync.tasks_role, definition.tenant_role)
    EdgeStack(
        app,
        "LucaEdge",
        definition=definition,
        user_pool=identity.user_pool,
        vpc=grading.vpc,
        link_subnets=grading.private_subnets,
        link_security_group=grading.edge_link_security_group,
        load_balancer=grading.load_balancer,
        events_queue=ingest.queue,
        description="Luca: REST API, authorizer, WAF, burst routes into the events queue",
    )
    enable_checks(app)
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
