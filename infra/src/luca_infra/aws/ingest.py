"""The burst path behind the edge: the events queue, its DLQ and the ``grade-processor`` Lambda.

    edge (API Gateway → SQS, no compute) → queue → event-source mapping → grade processor → table

- Every queue and mapping setting comes from ``IngestDefinition``, which the local platform reads too.
  The queue's visibility timeout is six times the function's timeout (Lambda's rule for SQS
  sources); a message that fails ``max_receive_count`` times moves to the DLQ, and a message in the
  DLQ raises an alarm on the ops topic.
- Both queues use SQS-managed encryption (SSE-SQS) and refuse non-TLS requests. Not a customer
  managed key: API Gateway's integration role and the function would both need KMS permissions and
  the key policy would add nothing that isolates schools (one key covers every school's events);
  isolation is the school attribute set from the verified token and the batch-scoped table sessions.
- The function is the bundle ``make bundle`` writes (``luca_infra.bundle``), deployed as a file
  asset (``constructs.BundledPythonFunction``): synthesis never runs Docker or pip.
- The function's role may consume the queue, write its logs and traces, and assume the batch role.
  It has no table permission at all: the processor reads and writes only through one session per
  batch (``LUCA_BATCH_ROLE_ARN``), narrowed by a session policy to the leading keys of exactly the
  batch's schools (docs/decisions/0011-burst-write-path.md).

The batch role lives in ``LucaData`` and is named by the definition, so this stack builds its ARN
from that name; its trust admits this role by its name (``IngestDefinition.role_name``), so
neither stack imports from the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from luca_infra.aws import constructs as luca_constructs
from luca_infra.aws.runbook import Runbook
from luca_infra.aws.tenant_access import batch_role_arn, grant_assume_batch_role
from luca_infra.definitions import IngestDefinition, PlatformDefinition
from luca_ingest.entrypoints.handler import SERVICE as PROCESSOR_SERVICE

DLQ_ALARM_NAME = "Luca-Ingest-DLQ-Alert"
LOG_LEVEL = "INFO"
ALARM_PERIOD = cdk.Duration.minutes(1)

# What the grade processor reads from its environment (luca_ingest.config.IngestSettings and
# Powertools). The infra tests read these back through IngestSettings.from_environment, so a
# renamed variable fails a test instead of silently falling back to a default.
TABLE_NAME_ENV = "LUCA_TABLE_NAME"
BATCH_ROLE_ARN_ENV = "LUCA_BATCH_ROLE_ARN"
METRICS_NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"
LOG_LEVEL_ENV = "POWERTOOLS_LOG_LEVEL"


def require_bundle(path: Path) -> Path:
    """The function's deployment package, checked before any stack is built."""
    return luca_constructs.require_bundle(path, what="the grade processor's", service="ingest")


class IngestStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        table: dynamodb.ITable,
        alerts: sns.ITopic,
        bundle: Path,
        runbook: Runbook | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        ingest = definition.ingest
        self._runbook = runbook or Runbook()

        # -- queues --------------------------------------------------------------------------------
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=ingest.dlq_name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Long enough to inspect, fix and redrive after a holiday weekend.
            retention_period=cdk.Duration.days(ingest.dlq_retention_days),
        )
        self.queue = sqs.Queue(
            self,
            "Events",
            queue_name=ingest.queue_name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=cdk.Duration.seconds(ingest.visibility_timeout_seconds),
            retention_period=cdk.Duration.days(ingest.message_retention_days),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letters, max_receive_count=ingest.max_receive_count
            ),
        )
        self.dead_letter_alarm = self._dead_letter_alarm(alerts, ingest)

        # -- the grade processor -------------------------------------------------------------------
        batch_role = batch_role_arn(self, definition.batch_role)
        # Resource names and numbers only; no secret travels through the environment.
        environment = {
            TABLE_NAME_ENV: table.table_name,
            BATCH_ROLE_ARN_ENV: batch_role,
            METRICS_NAMESPACE_ENV: definition.metrics_namespace,
            SERVICE_NAME_ENV: PROCESSOR_SERVICE,
            LOG_LEVEL_ENV: LOG_LEVEL,
        }
        processor = luca_constructs.BundledPythonFunction(
            self,
            "Processor",
            code=lambda_.Code.from_asset(str(bundle)),
            function_name=ingest.function_name,
            description="Grades students' events from the burst queue, one batch per invocation",
            handler=ingest.handler,
            runtime=ingest.runtime,
            architecture=ingest.architecture,
            timeout=cdk.Duration.seconds(ingest.function_timeout_seconds),
            memory_mib=ingest.memory_mib,
            environment=environment,
            role_name=ingest.role_name,
            role_description="Grade processor: consumes the events queue; table access only as one school",
            log_group_name=ingest.log_group_name,
        )
        self.log_group = processor.log_group
        self.function = processor.function
        self.processor_role = processor.role
        grant_assume_batch_role(self.processor_role, batch_role)
        self.function.add_event_source(self._event_source(ingest))

    def _event_source(self, ingest: IngestDefinition) -> event_sources.SqsEventSource:
        return event_sources.SqsEventSource(
            self.queue,
            batch_size=ingest.batch_size,
            max_batching_window=cdk.Duration.seconds(ingest.max_batching_window_seconds),
            # The handler reports failed records; the rest of the batch is deleted, never retried.
            report_batch_item_failures=True,
            max_concurrency=ingest.max_concurrency,
        )

    def _dead_letter_alarm(self, alerts: sns.ITopic, ingest: IngestDefinition) -> cloudwatch.Alarm:
        # Any message in the DLQ is an event a student sent that was never graded: page someone.
        alarm = cloudwatch.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_name=DLQ_ALARM_NAME,
            alarm_description=(
                f"Events in {ingest.dlq_name}: students' events the grade processor gave up "
                f"on. {self._runbook.events_dlq}"
            ),
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                period=ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
        return alarm
