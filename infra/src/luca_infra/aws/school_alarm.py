"""The per-school interactive p95 alarm, defined once for the CDK app and for school onboarding.

``Luca-P95-Latency-Alert-<school_id>``: the p95 of the school's ``InteractiveRequestLatency`` (the
grading service's EMF series with dimensions ``school_id`` and ``service``) above the objective
(120 ms) in 3 of 5 one-minute periods; no traffic is not an incident. It notifies the ops topic on
ALARM and on OK, so a paging service resolves the incident by itself.

Why an alarm per school (ADR 0009): Metrics Insights alarms could watch every school with one query,
but Metrics Insights has no percentiles, a query sees at most 500 series, an alarm reports at most
100 contributors, and a region allows 200 such alarms. A standard alarm on the school's own series
with the ``p95`` statistic is exact, and its description names the school and the command to run.
Priced in decision 0012 (``make capacity``): an alarm and the school's one latency series (its
``SampleCount`` is the school's request count) are about USD 0.17 a school a month, USD 332 at 2,000
schools; Metrics Insights alarms bill per series analysed and would cost the same.

Plain Python on purpose: ``AlarmSpec.put_metric_alarm_kwargs(topic_arn)`` is what the onboarding tool
passes to boto3's ``cloudwatch.put_metric_alarm``, and ``SchoolLatencyAlarms`` (CDK, in
``observability``) builds its ``CfnAlarm`` from the very same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from luca_infra.aws.runbook import Runbook
from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition
from luca_platform.telemetry.metrics import INTERACTIVE_REQUEST_LATENCY, SCHOOL_DIMENSION, SERVICE_DIMENSION

PERIOD_SECONDS = 60
EVALUATION_PERIODS = 5
DATAPOINTS_TO_ALARM = 3
STATISTIC = "p95"
COMPARISON = "GreaterThanThreshold"
MISSING_DATA = "notBreaching"
# The most per-school alarms the CDK app declares (``luca:schools``): CloudFormation allows 500
# resources a stack, and the rest of the observability stack needs room too (at 400, with every kind
# of subscriber: 410 resources, a 349 KB template). Beyond that, onboarding's alarms (boto3,
# ``luca schools create``) are the only ones (decision 0012).
SCHOOL_ALARMS_IN_STACK = 400
# An alarm name is at most 255 characters; a school id is a slug (it also names S3 prefixes).
_SCHOOL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def check_school_id(school_id: str) -> str:
    if not _SCHOOL_ID.match(school_id):
        raise ValueError(f"not a school id (letters, digits, '-', '_', at most 128): {school_id!r}")
    return school_id


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """One school's p95 latency alarm: every property, in CloudWatch's own terms."""

    school_id: str
    stage: str
    definition: PlatformDefinition = PLATFORM_DEFINITION

    def __post_init__(self) -> None:
        check_school_id(self.school_id)

    @property
    def name(self) -> str:
        return f"{self.definition.latency_alarm_prefix}-{self.school_id}"

    @property
    def description(self) -> str:
        objective = self.definition.latency_objective_ms
        runbook = Runbook(self.stage)
        return (
            f"School {self.school_id}: interactive p95 latency above {objective} ms in "
            f"{DATAPOINTS_TO_ALARM} of {EVALUATION_PERIODS} minutes. Find its slow requests in "
            f"{self.definition.grading.log_group_name} (field school_id), then follow one with "
            f"{runbook.trace()}."
        )

    @property
    def dimensions(self) -> list[dict[str, str]]:
        return [
            {"Name": SCHOOL_DIMENSION, "Value": self.school_id},
            {"Name": SERVICE_DIMENSION, "Value": self.definition.grading.name},
        ]

    def put_metric_alarm_kwargs(self, topic_arn: str) -> dict[str, Any]:
        """The keyword arguments of ``cloudwatch.put_metric_alarm`` (boto3) for this alarm."""
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "ActionsEnabled": True,
            "AlarmActions": [topic_arn],
            "OKActions": [topic_arn],
            "Namespace": self.definition.metrics_namespace,
            "MetricName": INTERACTIVE_REQUEST_LATENCY,
            "Dimensions": self.dimensions,
            "ExtendedStatistic": STATISTIC,
            "Period": PERIOD_SECONDS,
            "EvaluationPeriods": EVALUATION_PERIODS,
            "DatapointsToAlarm": DATAPOINTS_TO_ALARM,
            "Threshold": float(self.definition.latency_objective_ms),
            "ComparisonOperator": COMPARISON,
            "TreatMissingData": MISSING_DATA,
        }
