"""``Luca-StepFunction-Failure-Alert``: exactly three failed executions of the government sync in a row.

    state machine ─(EventBridge: execution status change, terminal statuses)─► failure-streak Lambda
        ─ ListExecutions, newest first ─► EMF GovSyncConsecutiveFailures ─► alarm at >= 3 ─► ops topic

A CloudWatch alarm on ``ExecutionsFailed`` counts failures per period, not executions in a row (the
approximation this replaces: three failing hours). The function (``luca_govsync.entrypoints.
failure_streak``, in the government sync's bundle) recounts the trailing run of failed executions
from Step Functions' own list on every finished execution, so the metric is exact and stateless: a
lost or repeated event changes nothing, and a rerun that succeeds publishes 0.

The alarm keeps its state while no new count arrives (missing data: ignore): the sync runs a few
times a quarter, and "three in a row" stays true until an execution succeeds.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from luca_govsync.entrypoints import failure_streak
from luca_infra.aws import constructs as luca_constructs
from luca_infra.aws.runbook import Runbook
from luca_infra.definitions import PlatformDefinition

# Terminal statuses only: a RUNNING event changes no count.
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
DETAIL_TYPE = "Step Functions Execution Status Change"
PERIOD = cdk.Duration.minutes(1)
LOG_LEVEL = "INFO"


class FailureStreakAlarm(Construct):
    """The rule, the counting function and the alarm; ``alarm``, ``function``, ``rule``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        code: lambda_.Code,
        state_machine: sfn.IStateMachine,
        alerts: sns.ITopic,
        runbook: Runbook,
    ) -> None:
        super().__init__(scope, construct_id)
        govsync = definition.govsync
        counter = luca_constructs.BundledPythonFunction(
            self,
            "Counter",
            code=code,
            function_name=govsync.failure_streak_function_name,
            description=f"Counts the failed executions of {govsync.state_machine_name} in a row (a metric)",
            handler=govsync.failure_streak_handler,
            runtime=govsync.runtime,
            architecture=govsync.architecture,
            timeout=cdk.Duration.seconds(govsync.failure_streak_timeout_seconds),
            memory_mib=256,
            environment={
                failure_streak.STATE_MACHINE_ARN_ENV: state_machine.state_machine_arn,
                "POWERTOOLS_SERVICE_NAME": failure_streak.SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": definition.metrics_namespace,
                "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
            },
            role_description="Government sync failure streak: lists the state machine's executions",
        )
        counter.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListSyncs",
                actions=["states:ListExecutions"],
                resources=[state_machine.state_machine_arn],
            )
        )
        self.function = counter.function
        self.rule = events.Rule(
            self,
            "ExecutionFinished",
            description=f"Finished executions of {govsync.state_machine_name}: recount the failures in a row",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[DETAIL_TYPE],
                detail={
                    "stateMachineArn": [state_machine.state_machine_arn],
                    "status": list(TERMINAL_STATUSES),
                },
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=8)],
        )
        threshold = govsync.alarm_consecutive_failures
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_name=govsync.alarm_name,
            alarm_description=(
                f"{govsync.state_machine_name}: the last {threshold} (or more) finished executions all "
                f"failed. Read a failed execution's history in {govsync.log_group_name}, then "
                f"run {runbook.sync_dlq.removeprefix('Run ')} To rerun a school's sync: "
                f"{runbook.sync_start()}."
            ),
            metric=cloudwatch.Metric(
                namespace=definition.metrics_namespace,
                metric_name=govsync.failure_streak_metric,
                dimensions_map={"service": failure_streak.SERVICE},
                statistic=cloudwatch.Stats.MAXIMUM,
                period=PERIOD,
            ),
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            # The latest count stands until the next finished execution recounts.
            treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
        )
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
        self.alarm.add_ok_action(cloudwatch_actions.SnsAction(alerts))
