"""``LucaObservability``: the ops alerts topic and who it reaches, the per-school p95 alarms, and the
``Luca-Production-Overview`` dashboard.

- The topic ``luca-ops-alerts`` (its own KMS key, which CloudWatch may use) is where every alarm of
  the app goes. Its subscribers come from deploy-time context (``deploy_context``): emails, https
  endpoints (a paging service), and a Slack channel through AWS Chatbot whose members get read-only
  guardrails. With none configured the topic has no subscriber, as before.
- ``Luca-P95-Latency-Alert-<school>`` for every school in ``luca:schools`` (at most
  ``SCHOOL_ALARMS_IN_STACK``, decision 0012), from the one definition the onboarding tool uses too
  (``school_alarm``). ``Luca-P95-Latency-Alert-All`` watches the p95 of
  all schools together: one page for a platform-wide regression, and cover for a school whose own
  alarm does not exist yet (onboarded, not yet deployed or created). It costs one alarm.
- The dashboard (``dashboard``) reads metrics by name and dimension only, so this shared stack
  refers to no other stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from luca_infra.aws.dashboard import overview_dashboard
from luca_infra.aws.deploy_context import OperationsContext
from luca_infra.aws.school_alarm import AlarmSpec
from luca_infra.definitions import PlatformDefinition
from luca_platform.telemetry.metrics import INTERACTIVE_REQUEST_LATENCY, SERVICE_DIMENSION

LATENCY_ALARM_NAME = "Luca-P95-Latency-Alert-All"
PERIOD = cdk.Duration.minutes(1)
CHATBOT_CONFIGURATION = "luca-ops-alerts"
# What a Slack channel member may do through Chatbot, whatever the channel role allows.
CHATBOT_GUARDRAIL = "ReadOnlyAccess"


class ObservabilityStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        operations: OperationsContext | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        operations = operations or OperationsContext()
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
        self._subscribe(operations)

        self.school_alarms = SchoolLatencyAlarms(
            self,
            "SchoolLatency",
            schools=operations.schools,
            stage=operations.stage,
            definition=definition,
            topic=self.alerts,
        )
        overall = cloudwatch.Alarm(
            self,
            "LatencyAlarm",
            alarm_name=LATENCY_ALARM_NAME,
            alarm_description=(
                f"Interactive p95 latency of all schools above {definition.latency_objective_ms} ms. "
                "Check the per-school alarms and the dashboard's p95 by school, then follow a slow "
                f"request with {operations.runbook.trace()}."
            ),
            metric=cloudwatch.Metric(
                namespace=definition.metrics_namespace,
                metric_name=INTERACTIVE_REQUEST_LATENCY,
                dimensions_map={SERVICE_DIMENSION: definition.grading.name},
                statistic="p95",
                period=PERIOD,
                label="p95, all schools",
            ),
            threshold=definition.latency_objective_ms,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            # No traffic (night, holidays) is not an incident.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        overall.add_alarm_action(cloudwatch_actions.SnsAction(self.alerts))
        self.latency_alarm = overall
        self.dashboard = overview_dashboard(self, "Overview", definition=definition)

    def _subscribe(self, operations: OperationsContext) -> None:
        for email in operations.alert_emails:
            self.alerts.add_subscription(subscriptions.EmailSubscription(email))
        for url in operations.alert_https_endpoints:
            self.alerts.add_subscription(
                subscriptions.UrlSubscription(url, protocol=sns.SubscriptionProtocol.HTTPS)
            )
        slack = operations.alert_slack
        if slack is not None:
            chatbot.SlackChannelConfiguration(
                self,
                "Slack",
                slack_channel_configuration_name=CHATBOT_CONFIGURATION,
                slack_workspace_id=slack.workspace_id,
                slack_channel_id=slack.channel_id,
                notification_topics=[self.alerts],
                guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(CHATBOT_GUARDRAIL)],
            )


class SchoolLatencyAlarms(Construct):
    """One ``AlarmSpec`` alarm per school, as ``CfnAlarm`` built from the spec's boto3 arguments, so
    the alarm a deploy creates and the one onboarding creates cannot differ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schools: Sequence[str],
        stage: str,
        definition: PlatformDefinition,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: dict[str, cloudwatch.CfnAlarm] = {}
        for school in schools:
            spec = AlarmSpec(school_id=school, stage=stage, definition=definition)
            self.alarms[school] = cfn_alarm(self, school, spec.put_metric_alarm_kwargs(topic.topic_arn))


def cfn_alarm(scope: Construct, construct_id: str, kwargs: dict[str, Any]) -> cloudwatch.CfnAlarm:
    """A ``CfnAlarm`` from ``put_metric_alarm`` keyword arguments (the same CloudWatch properties)."""
    return cloudwatch.CfnAlarm(
        scope,
        construct_id,
        alarm_name=kwargs["AlarmName"],
        alarm_description=kwargs["AlarmDescription"],
        actions_enabled=kwargs["ActionsEnabled"],
        alarm_actions=kwargs["AlarmActions"],
        ok_actions=kwargs["OKActions"],
        namespace=kwargs["Namespace"],
        metric_name=kwargs["MetricName"],
        dimensions=[
            cloudwatch.CfnAlarm.DimensionProperty(name=d["Name"], value=d["Value"])
            for d in kwargs["Dimensions"]
        ],
        extended_statistic=kwargs["ExtendedStatistic"],
        period=kwargs["Period"],
        evaluation_periods=kwargs["EvaluationPeriods"],
        datapoints_to_alarm=kwargs["DatapointsToAlarm"],
        threshold=kwargs["Threshold"],
        comparison_operator=kwargs["ComparisonOperator"],
        treat_missing_data=kwargs["TreatMissingData"],
    )
