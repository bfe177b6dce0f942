"""A school's p95 latency alarm, from the one definition the CDK app uses (``aws.school_alarm``)."""

from __future__ import annotations

from typing import Any

from luca_infra.aws.school_alarm import AlarmSpec
from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition


class SchoolAlarm:
    def __init__(
        self, cloudwatch: Any, stage: str, definition: PlatformDefinition = PLATFORM_DEFINITION
    ) -> None:
        self._cloudwatch, self._stage, self._definition = cloudwatch, stage, definition

    def spec(self, school_id: str) -> AlarmSpec:
        return AlarmSpec(school_id=school_id, stage=self._stage, definition=self._definition)

    def put(self, school_id: str, topic_arn: str) -> str:
        """Create (or bring up to date) the alarm, notifying ``topic_arn``; PutMetricAlarm is an upsert."""
        if not topic_arn:
            raise ValueError("the stage's resources name no alerts topic (publish them again)")
        spec = self.spec(school_id)
        self._cloudwatch.put_metric_alarm(**spec.put_metric_alarm_kwargs(topic_arn))
        return spec.name

    def exists(self, school_id: str) -> bool:
        name = self.spec(school_id).name
        answer = self._cloudwatch.describe_alarms(AlarmNames=[name])
        return any(alarm["AlarmName"] == name for alarm in answer.get("MetricAlarms", []))

    def remove(self, school_id: str) -> bool:
        if not self.exists(school_id):
            return False
        self._cloudwatch.delete_alarms(AlarmNames=[self.spec(school_id).name])
        return True
