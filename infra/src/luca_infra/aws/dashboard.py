"""``Luca-Production-Overview``: what an operator looks at first, one row per question.

    interactive path  p95 latency by school (objective line) | throughput by school | 5xx rate
    table             consumed read/write capacity: table and each GSI
    queues            events queue depth and age | every DLQ's depth
    government sync   executions started/succeeded/failed/timed out/aborted | failures in a row
    lake              freshness (Firehose DataFreshness) | rows emitted, records skipped

Every metric is named from the definitions (namespaces, names, dimensions), never from another
stack's resources, so the shared ``LucaObservability`` stack depends on no service stack. Per-school
series are SEARCH expressions: a new school appears without a deploy.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from luca_analytics.entrypoints.enrich import ROWS_METRIC, SKIPPED_METRIC
from luca_analytics.entrypoints.enrich import SERVICE as ENRICH_SERVICE
from luca_govsync.entrypoints import failure_streak
from luca_infra.definitions import PlatformDefinition
from luca_platform.telemetry.metrics import INTERACTIVE_REQUEST_LATENCY, SCHOOL_DIMENSION, SERVICE_DIMENSION

PERIOD = cdk.Duration.minutes(1)
FIVE_MINUTES = cdk.Duration.minutes(5)
WIDTH = 8  # three widgets a row (the grid is 24 wide)
HEIGHT = 6


def per_school_search(
    definition: PlatformDefinition, metric_name: str, statistic: str, label: str
) -> cloudwatch.MathExpression:
    namespace = definition.metrics_namespace
    service = definition.grading.name
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{namespace},{SCHOOL_DIMENSION},{SERVICE_DIMENSION}}} "
            f'MetricName="{metric_name}" {SERVICE_DIMENSION}="{service}"\', \'{statistic}\', '
            f"{int(PERIOD.to_seconds())})"
        ),
        label=label,
        period=PERIOD,
    )


def overview_dashboard(
    scope: cdk.Stack, construct_id: str, *, definition: PlatformDefinition
) -> cloudwatch.Dashboard:
    return cloudwatch.Dashboard(
        scope,
        construct_id,
        dashboard_name=definition.dashboard_name,
        widgets=[
            _interactive(definition),
            _table(definition),
            _queues(definition),
            _government_sync(scope, definition),
            _lake(definition),
        ],
    )


def _interactive(definition: PlatformDefinition) -> list[cloudwatch.IWidget]:
    api = {"ApiName": definition.api_name, "Stage": definition.api_stage}

    def gateway(name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway", metric_name=name, dimensions_map=api, statistic="Sum", period=PERIOD
        )

    objective = cloudwatch.HorizontalAnnotation(value=definition.latency_objective_ms, label="objective")
    return [
        cloudwatch.GraphWidget(
            title="Interactive latency p95 by school (ms)",
            left=[per_school_search(definition, INTERACTIVE_REQUEST_LATENCY, "p95", "p95 by school")],
            left_annotations=[objective],
            width=WIDTH,
            height=HEIGHT,
        ),
        cloudwatch.GraphWidget(
            title="Interactive requests per minute by school",
            # A school's request count is its latency series' SampleCount (no count series per school).
            left=[
                per_school_search(
                    definition, INTERACTIVE_REQUEST_LATENCY, "SampleCount", "requests by school"
                )
            ],
            width=WIDTH,
            height=HEIGHT,
        ),
        cloudwatch.GraphWidget(
            title="Error rate at the edge (5xx % of requests)",
            left=[
                cloudwatch.MathExpression(
                    expression="IF(requests > 0, 100 * errors / requests, 0)",
                    using_metrics={"errors": gateway("5XXError"), "requests": gateway("Count")},
                    label="5xx %",
                    period=PERIOD,
                )
            ],
            width=WIDTH,
            height=HEIGHT,
        ),
    ]


def _table(definition: PlatformDefinition) -> list[cloudwatch.IWidget]:
    table = definition.table.name

    def consumed(name: str, index: str | None) -> cloudwatch.Metric:
        dimensions = {"TableName": table} | ({"GlobalSecondaryIndexName": index} if index else {})
        return cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name=name,
            dimensions_map=dimensions,
            statistic="Sum",
            period=PERIOD,
            label=index or "table",
        )

    indexes = [None, *(index.name for index in definition.table.indexes)]
    return [
        cloudwatch.GraphWidget(
            title=f"{table}: consumed {kind} capacity per minute (table and each GSI)",
            left=[consumed(f"Consumed{kind.capitalize()}CapacityUnits", index) for index in indexes],
            width=12,
            height=HEIGHT,
        )
        for kind in ("read", "write")
    ]


def _queue_metric(name: str, metric: str, statistic: str = "Maximum") -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/SQS",
        metric_name=metric,
        dimensions_map={"QueueName": name},
        statistic=statistic,
        period=PERIOD,
        label=name,
    )


def _queues(definition: PlatformDefinition) -> list[cloudwatch.IWidget]:
    events = definition.ingest.queue_name
    dead_letter_queues = (
        definition.ingest.dlq_name,
        definition.govsync.dlq_name,
        definition.govsync.schedule_dlq_name,
        definition.analytics_aws.pipe_dlq_name,
    )
    return [
        cloudwatch.GraphWidget(
            title="Events queue: depth and oldest message (s)",
            left=[_queue_metric(events, "ApproximateNumberOfMessagesVisible")],
            right=[_queue_metric(events, "ApproximateAgeOfOldestMessage")],
            width=12,
            height=HEIGHT,
        ),
        cloudwatch.GraphWidget(
            title="Dead-letter queues: depth (anything above 0 pages)",
            left=[_queue_metric(name, "ApproximateNumberOfMessagesVisible") for name in dead_letter_queues],
            width=12,
            height=HEIGHT,
        ),
    ]


def _government_sync(scope: cdk.Stack, definition: PlatformDefinition) -> list[cloudwatch.IWidget]:
    govsync = definition.govsync
    state_machine_arn = scope.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=govsync.state_machine_name,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )

    def executions(name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/States",
            metric_name=f"Executions{name}",
            dimensions_map={"StateMachineArn": state_machine_arn},
            statistic="Sum",
            period=FIVE_MINUTES,
            label=name.lower().replace("timedout", "timed out"),
        )

    return [
        cloudwatch.GraphWidget(
            title=f"{govsync.state_machine_name}: executions per 5 minutes",
            left=[executions(name) for name in ("Started", "Succeeded", "Failed", "TimedOut", "Aborted")],
            width=12,
            height=HEIGHT,
        ),
        cloudwatch.GraphWidget(
            title="Government sync: failed executions in a row (alarm at "
            f"{govsync.alarm_consecutive_failures})",
            left=[
                cloudwatch.Metric(
                    namespace=definition.metrics_namespace,
                    metric_name=govsync.failure_streak_metric,
                    dimensions_map={"service": failure_streak.SERVICE},
                    statistic="Maximum",
                    period=FIVE_MINUTES,
                )
            ],
            left_annotations=[
                cloudwatch.HorizontalAnnotation(value=govsync.alarm_consecutive_failures, label="alarm")
            ],
            width=12,
            height=HEIGHT,
        ),
    ]


def _lake(definition: PlatformDefinition) -> list[cloudwatch.IWidget]:
    analytics = definition.analytics_aws

    namespace = definition.metrics_namespace
    rows = cloudwatch.Metric(
        namespace=namespace,
        metric_name=ROWS_METRIC,
        dimensions_map={"service": ENRICH_SERVICE},
        statistic="Sum",
        period=FIVE_MINUTES,
        label="rows emitted",
    )
    # Skips carry their reason as a dimension: one series per reason.
    skipped = cloudwatch.MathExpression(
        expression=(
            f'SEARCH(\'{{{namespace},reason,service}} MetricName="{SKIPPED_METRIC}" '
            f"service=\"{ENRICH_SERVICE}\"', 'Sum', {int(FIVE_MINUTES.to_seconds())})"
        ),
        label="skipped by reason",
        period=FIVE_MINUTES,
    )

    return [
        cloudwatch.GraphWidget(
            title="Lake freshness: age of the oldest record not yet in S3 (s)",
            left=[
                cloudwatch.Metric(
                    namespace="AWS/Firehose",
                    metric_name="DeliveryToS3.DataFreshness",
                    dimensions_map={"DeliveryStreamName": analytics.delivery_stream_name},
                    statistic="Maximum",
                    period=FIVE_MINUTES,
                    label="freshness",
                )
            ],
            # Firehose flushes at least every buffer interval; older than that means delivery is stuck.
            left_annotations=[
                cloudwatch.HorizontalAnnotation(
                    value=analytics.buffer_interval_seconds, label="buffer interval"
                )
            ],
            width=12,
            height=HEIGHT,
        ),
        cloudwatch.GraphWidget(
            title="Lake enrichment: rows emitted and records skipped",
            left=[rows],
            right=[skipped],
            width=12,
            height=HEIGHT,
        ),
    ]
