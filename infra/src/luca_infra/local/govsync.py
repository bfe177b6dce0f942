"""The government path on the local platform: the ministry simulator, the state machine on the
emulator's engine with its tasks dispatched to the in-repo handlers, and the quarterly schedule.

What the CDK app deploys, provisioned from the same definitions: the manifest bucket, the DLQ, one
function record per task and one for the scheduled starter, the list of schools to sync (the SSM
parameter; here the configured schools), and the state machine from
``luca_govsync.definition.build_definition`` (the retry policy may be shortened by configuration;
the states are the same). The service composes itself: the tasks and the starter come from
``luca_govsync.bootstrap`` (``build``, ``build_starter``), the gRPC API's control from
``bootstrap_api.build_control``, each given settings built from the same definition the CDK app
turns into the functions' environment. Local-only pieces: the simulator stands in for the ministry,
``stepfunctions.DISPATCHER`` runs the handlers in this process (so they are handed their
compositions with ``handlers.use`` instead of reading this process's environment), and
``scheduler.LocalSchedule`` fires the schedule the emulator would never fire, invoking the starter
function as EventBridge Scheduler does.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import grpc
from botocore.config import Config

from luca_govsync.bootstrap import GovSyncApp, Schools, Started, SyncStarter, build, build_starter
from luca_govsync.bootstrap_api import build_control
from luca_govsync.config import ApiSettings, GovSyncSettings, StarterSettings
from luca_govsync.definition import DefinitionSettings, RetryPolicy, build_definition
from luca_govsync.entrypoints import handlers
from luca_govsync.entrypoints.grpc_server import create_server

# The ministry simulator is a test double of the ministry's records API, not part of the service's
# deployables: the local platform runs it in the ministry's place, so it is reached like an
# entrypoint.
from luca_govsync.simulator.faults import FaultPlan
from luca_govsync.simulator.server import SimulatorServer
from luca_govsync.simulator.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from luca_infra.definitions import GovSyncDefinition
from luca_infra.local import stepfunctions
from luca_infra.local.scheduler import LocalSchedule

log = logging.getLogger("luca.local.govsync")
ACCOUNT = "123456789012"
_STATES_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True, slots=True)
class GovSyncConfig:
    """What the local platform may change: shorter retries (the breaker follows them), the breaker's
    threshold, the schedule, the simulator's faults."""

    retry: RetryPolicy | None = None  # None: the definition's (production) policy
    schedule_expression: str | None = None  # None: the definition's; "" turns the schedule off
    simulator_port: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)
    ministry_timeout_seconds: float | None = None
    breaker_threshold: int | None = None  # None: the definition's; 0: no breaker (today's baseline)


@dataclass(frozen=True, slots=True)
class GovSyncResources:
    state_machine_arn: str
    dlq_url: str
    manifest_bucket: str
    ministry_url: str
    functions: dict[str, str]  # the state machine's tasks: task -> function ARN
    starter_function: str = ""  # the schedule's target


class LocalGovSync:
    """Runs in the process that hosts the emulator (the engine calls the handlers there)."""

    def __init__(
        self,
        *,
        emulator_url: str,
        region: str,
        table_name: str,
        tenant_role_arn: str | None,
        definition: GovSyncDefinition,
        schools: Callable[[], Sequence[str]],
        config: GovSyncConfig | None = None,
    ) -> None:
        self.emulator_url, self.region, self.table_name = emulator_url, region, table_name
        self.tenant_role_arn = tenant_role_arn
        self.definition = definition
        self.config = config or GovSyncConfig()
        self._schools = schools
        self.simulator: SimulatorServer | None = None
        self.resources: GovSyncResources | None = None
        self.app: GovSyncApp | None = None
        self._starter: tuple[SyncStarter, Schools] | None = None
        self.schedule: LocalSchedule | None = None
        self._grpc: grpc.Server | None = None

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region, endpoint_url=self.emulator_url)  # type: ignore[call-overload]

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> GovSyncResources:
        self.simulator = SimulatorServer(plan=self.config.faults, port=self.config.simulator_port)
        self.simulator.start()
        stepfunctions.enable_execution(self.emulator_url)
        self.resources = self._provision(self.simulator.url)
        self.app = build(self.task_settings())
        self._starter = build_starter(self.starter_settings())
        handlers.use(self.app, self._starter)
        for task in self._functions:
            stepfunctions.DISPATCHER.register(self.definition.function_name(task), getattr(handlers, task))
        expression = (
            self.definition.schedule_expression
            if self.config.schedule_expression is None
            else self.config.schedule_expression
        )
        if expression:
            self.schedule = LocalSchedule(
                expression, self._scheduled, timezone=self.definition.schedule_timezone
            )
            self.schedule.start()
        log.info("government sync ready", extra={"ministry": self.simulator.url})
        return self.resources

    def task_settings(self) -> GovSyncSettings:
        """The task functions' settings, as the CDK app sets them from the definition, pointed here
        (the simulator's credentials instead of the ministry's secret)."""
        resources = self._started_resources
        return GovSyncSettings(
            table_name=self.table_name,
            manifest_bucket=resources.manifest_bucket,
            ministry_url=resources.ministry_url,
            ministry_client_id=DEFAULT_CLIENT_ID,
            ministry_client_secret=DEFAULT_CLIENT_SECRET,
            batch_size=self.definition.batch_size,
            ministry_timeout_seconds=float(
                self.config.ministry_timeout_seconds or self.definition.ministry_timeout_seconds
            ),
            aws_region=self.region,
            aws_endpoint_url=self.emulator_url,
            tenant_role_arn=self.tenant_role_arn,
        )

    def starter_settings(self) -> StarterSettings:
        """The scheduled starter's settings, as the CDK app sets them, pointed here."""
        return StarterSettings(
            state_machine_arn=self._started_resources.state_machine_arn,
            schools_parameter=self.definition.schools_parameter,
            table_name=self.table_name,
            tenant_role_arn=self.tenant_role_arn,
            aws_region=self.region,
            aws_endpoint_url=self.emulator_url,
        )

    @property
    def _functions(self) -> tuple[str, ...]:
        return (*self.definition.tasks, self.definition.starter_task)

    @property
    def _started_resources(self) -> GovSyncResources:
        if self.resources is None:
            raise RuntimeError("the government sync is not started")
        return self.resources

    def serve_grpc(self, settings: ApiSettings) -> int:
        """``luca.govsync.v1.GovSyncService`` as its container serves it (same composition), on
        ``settings.grpc_host:grpc_port`` (0: a free port); returns the port."""
        if self.resources is None:
            raise RuntimeError("the government sync is not started")
        control, authenticator = build_control(
            replace(
                settings, state_machine_arn=self.resources.state_machine_arn, dlq_url=self.resources.dlq_url
            )
        )
        self._grpc, bound = create_server(
            control, authenticator, address=f"{settings.grpc_host}:{settings.grpc_port}"
        )
        self._grpc.start()
        return bound

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait()
            self._grpc = None
        if self.schedule is not None:
            self.schedule.stop()
            self.schedule = None
        for task in self._functions:
            stepfunctions.DISPATCHER.unregister(self.definition.function_name(task))
        handlers.use(None)
        self._starter = None
        if self.app is not None:
            self.app.ministry.close()
            self.app = None
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None

    # -- use ---------------------------------------------------------------------------------------------
    @property
    def starter(self) -> SyncStarter:
        """The starter the service composes (``build_starter``): on-demand starts and redrives."""
        if self._starter is None:
            raise RuntimeError("the government sync is not started")
        return self._starter[0]

    def _scheduled(self, at: datetime) -> None:
        """What EventBridge Scheduler does: invoke the starter function with the scheduled time."""
        resources = self._started_resources
        # The starter makes a few calls per school: wait as long as the function may run, and never
        # invoke it a second time because an answer was slow.
        lambda_client = boto3.client(
            "lambda",
            region_name=self.region,
            endpoint_url=self.emulator_url,
            config=Config(
                read_timeout=self.definition.starter_timeout_seconds + 5, retries={"max_attempts": 0}
            ),
        )
        scheduled_time = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        response = lambda_client.invoke(
            FunctionName=resources.starter_function,
            Payload=json.dumps({"scheduled_time": scheduled_time}).encode(),
        )
        result = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise RuntimeError(f"the scheduled start failed: {result}")
        log.info("scheduled sync", extra={"scheduled_time": scheduled_time, "result": result})

    def start_sync(
        self, period: str, schools: Sequence[str], started_by: str, correlation_id: str = ""
    ) -> list[Started]:
        return self.starter.start(period, schools, started_by, correlation_id)

    # -- provisioning ----------------------------------------------------------------------------------
    def _provision(self, ministry_url: str) -> GovSyncResources:
        definition = self.definition
        s3, sqs, iam = self.client("s3"), self.client("sqs"), self.client("iam")
        lambda_client, sfn = self.client("lambda"), self.client("stepfunctions")
        bucket = f"{definition.manifest_bucket_prefix}-{ACCOUNT}-{self.region}"
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            s3.create_bucket(Bucket=bucket)
        dlq_url = sqs.create_queue(
            QueueName=definition.dlq_name,
            Attributes={"MessageRetentionPeriod": str(definition.dlq_retention_days * 86400)},
        )["QueueUrl"]
        functions = {
            task: stepfunctions.create_function(
                lambda_client,
                iam,
                definition.function_name(task),
                timeout_seconds=definition.function_timeout_seconds,
                memory_mb=definition.memory_mib,
            )
            for task in definition.tasks
        }
        starter_function = stepfunctions.create_function(
            lambda_client,
            iam,
            definition.function_name(definition.starter_task),
            timeout_seconds=definition.starter_timeout_seconds,
            memory_mb=definition.memory_mib,
        )
        self._publish_schools()
        document = build_definition(
            DefinitionSettings(
                functions=functions,
                dlq_url=dlq_url,
                retry=self.config.retry or definition.retry,
                max_concurrency=definition.max_concurrency,
                breaker_threshold=(
                    definition.breaker_threshold
                    if self.config.breaker_threshold is None
                    else self.config.breaker_threshold
                ),
            )
        )
        role_arn = self._states_role(iam)
        arn = f"arn:aws:states:{self.region}:{ACCOUNT}:stateMachine:{definition.state_machine_name}"
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
            sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(document), roleArn=role_arn)
        except sfn.exceptions.StateMachineDoesNotExist:
            arn = sfn.create_state_machine(
                name=definition.state_machine_name,
                definition=json.dumps(document),
                roleArn=role_arn,
                type="STANDARD",
            )["stateMachineArn"]
        return GovSyncResources(arn, dlq_url, bucket, ministry_url, functions, starter_function)

    def _publish_schools(self) -> None:
        """The starter's list of schools (in AWS, the SSM parameter school onboarding appends to):
        here the configured schools, or none."""
        ssm = self.client("ssm")
        name = self.definition.schools_parameter
        schools = sorted(set(self._schools()))
        if schools:
            ssm.put_parameter(Name=name, Type="StringList", Value=",".join(schools), Overwrite=True)
        else:
            with contextlib.suppress(ssm.exceptions.ParameterNotFound):
                ssm.delete_parameter(Name=name)

    def _states_role(self, iam: Any) -> str:
        name = f"{self.definition.state_machine_name}-role"
        try:
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            return str(
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_STATES_TRUST))["Role"][
                    "Arn"
                ]
            )
