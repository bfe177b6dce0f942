"""Alerts and the overview dashboard for the interactive path (kept small on purpose).

Per-school latency is a metric per ``school_id`` (EMF from the grading service). The dashboard shows
every school's p95 with a SEARCH expression, which finds new schools without a deploy. Alarms cannot
evaluate SEARCH expressions, and Metrics Insights alarms (which can group by school) have no
percentiles, so ``Luca-P95-Latency-Alert`` watches the p95 of the same metric aggregated over all
schools (dimension ``service`` only), a dimension set the service emits on every request beside the
per-school one.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from luca_infra.definitions import PlatformDefinition
from luca_platform.telemetry.metrics import INTERACTIVE_REQUEST_LATENCY, SCHOOL_DIMENSION, SERVICE_DIMENSION

DASHBOARD_NAME = "Luca-Production-Overview"
LATENCY_ALARM_NAME = "Luca-P95-Latency-Alert"
LATENCY_OBJECTIVE_MS = 120
PERIOD = cdk.Duration.minutes(1)


class ObservabilityStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, definition: PlatformDefinition, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key, so the
        # topic has its own key that lets CloudWatch use it.
        key = kms.Key(
            self, "AlertsKey", enable_key_rotation=True, description="Encrypts the ops alerts topic"
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        self.alerts = sns.Topic(
            self, "Alerts", topic_name=definition.alerts_topic, master_key=key, enforce_ssl=True
        )

        namespace = definition.metrics_namespace
        service = definition.grading.name
        overall_p95 = cloudwatch.Metric(
            namespace=namespace,
            metric_name=INTERACTIVE_REQUEST_LATENCY,
            dimensions_map={SERVICE_DIMENSION: service},
            statistic="p95",
            period=PERIOD,
            label="p95, all schools",
        )
        per_school_p95 = cloudwatch.MathExpression(
            expression=(
                f"SEARCH('{{{namespace},{SCHOOL_DIMENSION},{SERVICE_DIMENSION}}} "
                f'MetricName="{INTERACTIVE_REQUEST_LATENCY}" {SERVICE_DIMENSION}="{service}"\', \'p95\', '
                f"{int(PERIOD.to_seconds())})"
            ),
            label="p95 by school",
            period=PERIOD,
        )
        alarm = cloudwatch.Alarm(
            self,
            "LatencyAlarm",
            alarm_name=LATENCY_ALARM_NAME,
            alarm_description=f"Interactive p95 latency above {LATENCY_OBJECTIVE_MS} ms",
            metric=overall_p95,
            threshold=LATENCY_OBJECTIVE_MS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            # No traffic (night, holidays) is not an incident.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alerts))

        objective = cloudwatch.HorizontalAnnotation(value=LATENCY_OBJECTIVE_MS, label="objective")
        cloudwatch.Dashboard(
            self,
            "Overview",
            dashboard_name=DASHBOARD_NAME,
            widgets=[
                [
                    cloudwatch.GraphWidget(
                        title="Interactive latency p95 by school (ms)",
                        left=[per_school_p95],
                        left_annotations=[objective],
                        width=12,
                    ),
                    cloudwatch.AlarmWidget(
                        title="Interactive latency p95, all schools", alarm=alarm, width=12
                    ),
                ]
            ],
        )
