"""The government path: the quarterly schedule, the state machine, its task functions and their storage.

    EventBridge Scheduler ─► starter Lambda ─► Step Functions (one execution per school and period)
        prepare ─► Map(submit, retried; failed for good ─► DLQ ─► record_failure) ─► report

- The states, retries and catches are ``luca_govsync.definition.build_definition``'s, the same document
  the local platform runs on the emulator; only its settings (the functions' ARNs, the DLQ's URL, the
  definition's retry policy and concurrency) are this stack's. CloudFormation resolves the ARNs and
  the URL inside the JSON string.
- Every name and number comes from ``GovSyncDefinition``. The ministry's base URL is deploy-time
  context (``luca:ministryUrl``, see ``app.py``); its client credentials are a Secrets Manager secret
  the stack creates with a placeholder and operators fill in. The schools to sync are an SSM
  StringList parameter that school onboarding maintains.
- The six functions (four tasks, the starter, the failure-streak counter) are the ``govsync`` bundle ``make bundle`` writes (``luca_infra.bundle``),
  deployed as one file asset (``constructs.BundledPythonFunction`` each): synthesis never runs
  Docker or pip.
- The gRPC API that starts and follows syncs is a service of its own (``LucaGovSyncApi``,
  ``govsync_api``); it names this state machine by its defined name, so neither stack imports from
  the other.

Identities, least privilege:
- The four task functions share one role. It has no table permission at all: the tasks read grades
  and write the sync's state only through per-school sessions on the tenant role
  (``LUCA_TENANT_ROLE_ARN``), whose policy confines every call to that school's partitions; the
  tenant role (``LucaData``) admits this role by its name (``GovSyncDefinition.tasks_role_name``).
  Besides that: read and write manifest objects (and use the manifests' key for exactly that), read
  the ministry secret, write logs and traces. Every task builds the whole composition on a cold
  start, ministry client included, so each reads the secret.
- The starter may start executions of this state machine, look at their status, read the schools
  parameter, and read the table as one school at a time through the tenant role (whether the term is
  closed, and whether an ended sync has corrections left to send); nothing else.
- The state machine's role may invoke the four task functions (by unqualified ARN, as the definition
  names them) and send to the DLQ, besides the log delivery and X-Ray permissions Step Functions needs.
- The schedule's role may invoke the starter and send to the schedule's DLQ.

Two dead-letter queues, both alarmed on the ops topic:
- the batches' DLQ (``dlq_name``): a batch the ministry never took, sent there by the state machine's
  Catch with its school and period; ``luca sync redrive`` reads exactly these messages.
- the schedule's DLQ (``schedule_dlq_name``): a quarterly start that never happened, because the
  scheduler could not invoke the starter, or the starter (invoked asynchronously) failed on every
  attempt. Kept apart so the batches' DLQ holds batches only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from luca_govsync.definition import DefinitionSettings, RetryPolicy, build_definition
from luca_govsync.entrypoints.handlers import SERVICE as GOVSYNC_SERVICE
from luca_infra.aws import constructs as luca_constructs
from luca_infra.aws.access_logs import access_log_bucket
from luca_infra.aws.constructs.python_function import X_RAY_ONLY
from luca_infra.aws.govsync_failures import FailureStreakAlarm
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.runbook import Runbook
from luca_infra.aws.tenant_access import grant_assume_tenant_role, tenant_role_arn
from luca_infra.definitions import SCHOOLS_PLACEHOLDER, GovSyncDefinition, PlatformDefinition

DLQ_ALARM_NAME = "Luca-GovSync-DLQ-Alert"
SCHEDULE_DLQ_ALARM_NAME = "Luca-GovSync-Schedule-DLQ-Alert"
DLQ_ALARM_PERIOD = cdk.Duration.minutes(1)
# The executions' log is the sync's audit trail next to the table's audit entries: kept for a year,
# past the next school year's first sync.
EXECUTION_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
LOG_LEVEL = "INFO"
# Manifests are the exact records each batch sent: kept a little over a year, so last year's syncs
# can be explained; a replaced or deleted manifest is kept for a month.
MANIFEST_EXPIRY_DAYS = 400
MANIFEST_NONCURRENT_DAYS = 30
ACCESS_LOG_DAYS = 400
ACCESS_LOG_PREFIX = "manifests/"
# The schedule retries a failed delivery to the starter for up to six hours; the starter itself is
# invoked asynchronously, and Lambda retries it twice on an error. Starting is idempotent (one
# execution per school and period), so a retry never starts a sync twice.
SCHEDULE_MAX_EVENT_AGE = cdk.Duration.hours(6)
SCHEDULE_RETRY_ATTEMPTS = 20
STARTER_ASYNC_RETRIES = 2
SCHEDULE_INPUT = {"scheduled_time": "<aws.scheduler.scheduled-time>"}
# What the stack stores before operators do. The client id placeholder is no ministry client, and the
# schools placeholder is no school id (school ids never contain '#'): until operators replace it, the
# quarterly start fails, lands in the schedule's DLQ and pages, instead of syncing nobody silently.
MINISTRY_CLIENT_ID_PLACEHOLDER = "set-by-operators"

# What the functions read from their environment (luca_govsync.config and Powertools). The infra
# tests read these back through GovSyncSettings / StarterSettings.from_environment.
TABLE_NAME_ENV = "LUCA_TABLE_NAME"
MANIFEST_BUCKET_ENV = "LUCA_MANIFEST_BUCKET"
MINISTRY_URL_ENV = "LUCA_MINISTRY_URL"
MINISTRY_SECRET_ARN_ENV = "LUCA_MINISTRY_SECRET_ARN"  # noqa: S105 - an environment variable's name
BATCH_SIZE_ENV = "LUCA_GOVSYNC_BATCH_SIZE"
MINISTRY_TIMEOUT_ENV = "LUCA_MINISTRY_TIMEOUT_SECONDS"
TENANT_ROLE_ARN_ENV = "LUCA_TENANT_ROLE_ARN"
REGION_ENV = "LUCA_AWS_REGION"
STATE_MACHINE_ARN_ENV = "LUCA_STATE_MACHINE_ARN"
SCHOOLS_PARAMETER_ENV = "LUCA_SCHOOLS_PARAMETER"
SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"
LOG_LEVEL_ENV = "POWERTOOLS_LOG_LEVEL"


def require_govsync_bundle(path: Path) -> Path:
    """The government sync's deployment package, checked before any stack is built."""
    return luca_constructs.require_bundle(path, what="the government sync's", service="govsync")


def retry_budget_seconds(policy: RetryPolicy) -> int:
    """The longest a submit task waits between its attempts in total (jitter only shortens it)."""
    return policy.total_delay_seconds()


def _construct_id(task: str) -> str:
    return "".join(part.capitalize() for part in task.split("_"))


class GovSyncStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        table: dynamodb.ITable,
        alerts: sns.ITopic,
        bundle: Path,
        ministry_url: str,
        runbook: Runbook | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        govsync = definition.govsync
        runbook = runbook or Runbook()
        if not govsync.runtime.startswith("python"):
            raise ValueError(f"the government sync's functions are Python; {govsync.runtime!r} is not")
        if govsync.ministry_timeout_seconds >= govsync.function_timeout_seconds:
            raise ValueError("the ministry timeout must be shorter than the task functions' timeout")
        self._govsync = govsync
        self._code = lambda_.Code.from_asset(str(bundle))  # one asset, six functions

        # -- dead letters --------------------------------------------------------------------------
        self.dead_letters = self._queue("DeadLetters", govsync.dlq_name)
        self.schedule_dead_letters = self._queue("ScheduleDeadLetters", govsync.schedule_dlq_name)
        acknowledge(
            self.dead_letters,
            "SQS3",
            "This queue is itself a dead-letter queue: the state machine's Catch sends it every batch "
            "that failed for good (a Step Functions task, which cdk-nag does not see as a redrive "
            "policy). Nothing consumes it automatically, so it needs no DLQ of its own.",
        )
        self._dead_letter_alarm(
            "DeadLettersAlarm",
            self.dead_letters,
            DLQ_ALARM_NAME,
            f"Batches in {govsync.dlq_name}: official grades the ministry never took. {runbook.sync_dlq}",
            alerts,
        )
        self._dead_letter_alarm(
            "ScheduleDeadLettersAlarm",
            self.schedule_dead_letters,
            SCHEDULE_DLQ_ALARM_NAME,
            f"Messages in {govsync.schedule_dlq_name}: a quarterly start of the government sync never "
            f"happened. Check the schools parameter ({govsync.schools_parameter}) and the starter's "
            f"logs, then start it by hand: {runbook.sync_start(school=None)}.",
            alerts,
        )

        # -- manifests, credentials, schools -------------------------------------------------------
        self.manifest_key, self.manifests = self._manifests(govsync)
        self.ministry_secret = secretsmanager.Secret(
            self,
            "MinistryCredentials",
            secret_name=govsync.ministry_secret_name,
            description="The ministry records API's client credentials: JSON {client_id, client_secret}",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"client_id": MINISTRY_CLIENT_ID_PLACEHOLDER}),
                generate_string_key="client_secret",
                exclude_punctuation=True,
            ),
        )
        acknowledge(
            self.ministry_secret,
            "SMG4",
            "The ministry issues these client credentials and rotates them on its own schedule through "
            "its portal; there is no API a rotation function could call, so operators update the "
            "secret when the ministry issues new ones.",
        )
        # The onboarding of a school appends to the list; CloudFormation writes the value only when
        # it creates the parameter or when these properties change (so they must not, once deployed).
        # Advanced tier: 8 KB of school ids instead of 4 KB.
        self.schools = ssm.StringListParameter(
            self,
            "Schools",
            parameter_name=govsync.schools_parameter,
            string_list_value=[SCHOOLS_PLACEHOLDER],
            description="School ids whose official grades the quarterly government sync submits",
            tier=ssm.ParameterTier.ADVANCED,
        )

        # -- the task functions --------------------------------------------------------------------
        tenant_role = tenant_role_arn(self, definition.tenant_role)
        # One role for the four tasks, named: the tenant role's trust admits it by that name.
        self.tasks_role = iam.Role(
            self,
            "TasksRole",
            role_name=govsync.tasks_role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Government sync tasks: manifests, the ministry secret; table only as one school",
        )
        grant_assume_tenant_role(self.tasks_role, tenant_role)
        self.tasks_role.add_to_policy(
            iam.PolicyStatement(
                sid="BatchManifests",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.manifests.arn_for_objects("*")],
            )
        )
        self.tasks_role.add_to_policy(
            iam.PolicyStatement(
                sid="BatchManifestsKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.manifest_key.key_arn],
                # Only through S3, for this bucket's objects.
                # (With bucket keys the encryption context is the bucket's ARN, else the object's.)
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{self.region}.{self.url_suffix}"},
                    "ArnLike": {
                        "kms:EncryptionContext:aws:s3:arn": [
                            self.manifests.bucket_arn,
                            self.manifests.arn_for_objects("*"),
                        ]
                    },
                },
            )
        )
        self.tasks_role.add_to_policy(
            iam.PolicyStatement(
                sid="MinistryCredentials",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.ministry_secret.secret_arn],
            )
        )
        acknowledge(
            self.tasks_role,
            f"IAM5[Resource::<{self.get_logical_id(self._cfn(self.manifests))}.Arn>/*]",
            "Manifest keys are <school>/<period>/<sync>/batch-N.json, one per batch of every sync, "
            "so no fixed prefix narrows them; get and put only, on this bucket's objects, and the "
            "bucket holds nothing but manifests.",
        )
        acknowledge(self.tasks_role, "IAM5[Resource::*]", X_RAY_ONLY)
        task_environment = {
            TABLE_NAME_ENV: table.table_name,
            MANIFEST_BUCKET_ENV: self.manifests.bucket_name,
            MINISTRY_URL_ENV: ministry_url,
            MINISTRY_SECRET_ARN_ENV: self.ministry_secret.secret_arn,
            BATCH_SIZE_ENV: str(govsync.batch_size),
            MINISTRY_TIMEOUT_ENV: str(govsync.ministry_timeout_seconds),
            TENANT_ROLE_ARN_ENV: tenant_role,
            REGION_ENV: self.region,
            SERVICE_NAME_ENV: GOVSYNC_SERVICE,
            LOG_LEVEL_ENV: LOG_LEVEL,
        }
        self.functions: dict[str, lambda_.Function] = {
            task: self._function(
                task,
                role=self.tasks_role,
                environment=task_environment,
                timeout_seconds=govsync.function_timeout_seconds,
                description=f"Government sync task {task!r} (a state of {govsync.state_machine_name})",
            )
            for task in govsync.tasks
        }

        # -- the state machine ---------------------------------------------------------------------
        self.state_machine = self._state_machine(govsync)

        # -- the starter and the schedule ----------------------------------------------------------
        self.starter_role = iam.Role(
            self,
            "StarterRole",
            role_name=govsync.starter_role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Government sync starter: starts executions, reads the schools; table only as one school",
        )
        grant_assume_tenant_role(self.starter_role, tenant_role)
        self.starter_role.add_to_policy(
            iam.PolicyStatement(
                sid="StartSyncs",
                actions=["states:StartExecution"],
                resources=[self.state_machine.state_machine_arn],
            )
        )
        executions_arn = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{govsync.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.starter_role.add_to_policy(
            iam.PolicyStatement(
                sid="SeeSyncs", actions=["states:DescribeExecution"], resources=[executions_arn]
            )
        )
        self.starter_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadSchools", actions=["ssm:GetParameter"], resources=[self.schools.parameter_arn]
            )
        )
        acknowledge(
            self.starter_role,
            f"IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f"{govsync.state_machine_name}:*]",
            "DescribeExecution on the executions of this one state machine: their names are made per "
            "school and period at run time, so they cannot be listed; read-only, and it is how a "
            "second start of the same sync finds the first instead of starting again.",
        )
        acknowledge(self.starter_role, "IAM5[Resource::*]", X_RAY_ONLY)
        self.starter = self._function(
            govsync.starter_task,
            role=self.starter_role,
            environment={
                STATE_MACHINE_ARN_ENV: self.state_machine.state_machine_arn,
                SCHOOLS_PARAMETER_ENV: self.schools.parameter_name,
                TABLE_NAME_ENV: table.table_name,
                TENANT_ROLE_ARN_ENV: tenant_role,
                REGION_ENV: self.region,
                SERVICE_NAME_ENV: GOVSYNC_SERVICE,
                LOG_LEVEL_ENV: LOG_LEVEL,
            },
            timeout_seconds=govsync.starter_timeout_seconds,
            description="Starts the quarterly government sync: one execution per listed school",
            dead_letter_queue=self.schedule_dead_letters,
            retry_attempts=STARTER_ASYNC_RETRIES,
        )
        self.schedule = self._schedule(govsync)

        # -- the alarm: exactly N failed executions in a row (govsync_failures) -------------------
        streak = FailureStreakAlarm(
            self,
            "FailureStreak",
            definition=definition,
            code=self._code,
            state_machine=self.state_machine,
            alerts=alerts,
            runbook=runbook,
        )
        self.failure_alarm = streak.alarm
        self.failure_streak = streak.function

    # -- pieces ------------------------------------------------------------------------------------
    @staticmethod
    def _cfn(construct: Construct) -> cdk.CfnResource:
        child = construct.node.default_child
        assert isinstance(child, cdk.CfnResource)
        return child

    def _queue(self, construct_id: str, name: str) -> sqs.Queue:
        return sqs.Queue(
            self,
            construct_id,
            queue_name=name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Long enough to inspect, fix and redrive after a holiday weekend.
            retention_period=cdk.Duration.days(self._govsync.dlq_retention_days),
        )

    def _dead_letter_alarm(
        self, construct_id: str, queue: sqs.Queue, name: str, description: str, alerts: sns.ITopic
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=name,
            alarm_description=description,
            metric=queue.metric_approximate_number_of_messages_visible(
                period=DLQ_ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
        return alarm

    def _manifests(self, govsync: GovSyncDefinition) -> tuple[kms.Key, s3.Bucket]:
        # Manifests hold minors' official grades. A key of our own means that reading one takes
        # kms:Decrypt on this key as well as s3:GetObject, and every use of it is in CloudTrail.
        key = kms.Key(
            self,
            "ManifestsKey",
            enable_key_rotation=True,
            description="Encrypts the government sync's batch manifests",
        )
        access_logs = access_log_bucket(
            self,
            "ManifestAccessLogs",
            receives="the manifest bucket's server access logs",
            expiry_days=ACCESS_LOG_DAYS,
        )
        bucket = s3.Bucket(
            self,
            "Manifests",
            bucket_name=f"{govsync.manifest_bucket_prefix}-{cdk.Aws.ACCOUNT_ID}-{cdk.Aws.REGION}",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,  # one data key per bucket and period, not a KMS call per object
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireManifests",
                    expiration=cdk.Duration.days(MANIFEST_EXPIRY_DAYS),
                    noncurrent_version_expiration=cdk.Duration.days(MANIFEST_NONCURRENT_DAYS),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
        )
        return key, bucket

    def _function(
        self,
        task: str,
        *,
        role: iam.IRole,
        environment: dict[str, str],
        timeout_seconds: int,
        description: str,
        dead_letter_queue: sqs.IQueue | None = None,
        retry_attempts: int | None = None,
    ) -> lambda_.Function:
        govsync = self._govsync
        return luca_constructs.BundledPythonFunction(
            self,
            _construct_id(task),
            code=self._code,
            function_name=govsync.function_name(task),
            description=description,
            handler=govsync.handler(task),
            runtime=govsync.runtime,
            architecture=govsync.architecture,
            timeout=cdk.Duration.seconds(timeout_seconds),
            memory_mib=govsync.memory_mib,
            environment=environment,
            role=role,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=retry_attempts,
        ).function

    def _state_machine(self, govsync: GovSyncDefinition) -> sfn.StateMachine:
        log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=govsync.log_group_name,
            retention=EXECUTION_LOG_RETENTION,
        )
        # Only Step Functions of this account may wear the role (confused-deputy guard).
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description="Government sync state machine: invokes its four tasks, sends failed batches to the DLQ",
        )
        task_functions = [self.functions[task] for task in govsync.tasks]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeTasks",
                actions=["lambda:InvokeFunction"],
                resources=[function.function_arn for function in task_functions],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeadLetterBatches",
                actions=["sqs:SendMessage"],
                resources=[self.dead_letters.queue_arn],
            )
        )
        document = build_definition(
            DefinitionSettings(
                functions={task: self.functions[task].function_arn for task in govsync.tasks},
                dlq_url=self.dead_letters.queue_url,
                retry=govsync.retry,
                max_concurrency=govsync.max_concurrency,
                breaker_threshold=govsync.breaker_threshold,
            )
        )
        state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=govsync.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(document)),
            role=role,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        # As for the functions: CDK adds the role to DependsOn, which the RoleArn GetAtt implies (W3005).
        self._cfn(state_machine).add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        acknowledge(
            role,
            "IAM5[Resource::*]",
            "Only what Step Functions needs to deliver execution logs (logs:CreateLogDelivery and the "
            "other log-delivery and resource-policy actions) and X-Ray traces; none of these supports "
            "resource-level permissions, and none reads data.",
        )
        return state_machine

    def _schedule(self, govsync: GovSyncDefinition) -> scheduler.CfnSchedule:
        role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description="Government sync schedule: invokes the starter, dead-letters what it cannot deliver",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeStarter",
                actions=["lambda:InvokeFunction"],
                resources=[self.starter.function_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeadLetterStarts",
                actions=["sqs:SendMessage"],
                resources=[self.schedule_dead_letters.queue_arn],
            )
        )
        schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            name=govsync.schedule_name,
            description="Quarterly: the official grades of the term that just ended, to the ministry",
            schedule_expression=govsync.schedule_expression,
            schedule_expression_timezone=govsync.schedule_timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.starter.function_arn,
                role_arn=role.role_arn,
                input=json.dumps(SCHEDULE_INPUT),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=int(SCHEDULE_MAX_EVENT_AGE.to_seconds()),
                    maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.schedule_dead_letters.queue_arn
                ),
            ),
        )
        # The schedule checks at creation that its role may invoke the target.
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            schedule.node.add_dependency(policy)
        return schedule
