"""The government path on the local platform: the ministry simulator, the state machine on the
emulator's engine with its tasks dispatched to the in-repo handlers, and the quarterly schedule.

What the CDK app deploys, provisioned from the same definitions: the manifest bucket, the DLQ, one
function record per task, and the state machine from ``luca_govsync.definition.build_definition``
(the retry policy may be shortened by configuration; the states are the same). Local-only pieces:
the simulator stands in for the ministry, ``stepfunctions.DISPATCHER`` runs the handlers in this
process, and ``scheduler.LocalSchedule`` fires the schedule the emulator would never fire.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import boto3
import grpc

from luca_govsync.adapters.stepfunctions import StepFunctionsExecutions
from luca_govsync.bootstrap import GovSyncApp, build
from luca_govsync.bootstrap_api import build_control
from luca_govsync.config import ApiSettings, GovSyncSettings
from luca_govsync.definition import DefinitionSettings, RetryPolicy, build_definition
from luca_govsync.domain.model import period_before
from luca_govsync.entrypoints import handlers
from luca_govsync.entrypoints.grpc_server import create_server
from luca_govsync.service_layer.starter import Started, SyncStarter
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
    """What the local platform may change: shorter retries, the schedule, the simulator's faults."""

    retry: RetryPolicy | None = None  # None: the definition's (production) policy
    schedule_expression: str | None = None  # None: the definition's; "" turns the schedule off
    simulator_port: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)
    ministry_timeout_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class GovSyncResources:
    state_machine_arn: str
    dlq_url: str
    manifest_bucket: str
    ministry_url: str
    functions: dict[str, str]


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
        settings = GovSyncSettings(
            table_name=self.table_name,
            manifest_bucket=self.resources.manifest_bucket,
            ministry_url=self.simulator.url,
            ministry_client_id=DEFAULT_CLIENT_ID,
            ministry_client_secret=DEFAULT_CLIENT_SECRET,
            batch_size=self.definition.batch_size,
            ministry_timeout_seconds=self.config.ministry_timeout_seconds or 20.0,
            aws_region=self.region,
            aws_endpoint_url=self.emulator_url,
            tenant_role_arn=self.tenant_role_arn,
        )
        self.app = build(settings)
        handlers.use(self.app)
        for task in self.definition.tasks:
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

    def serve_grpc(self, settings: ApiSettings) -> int:
        """``luca.govsync.v1.GovSyncService`` as its container serves it (same composition), on
        ``settings.grpc_host:grpc_port`` (0: a free port); returns the port."""
        if self.resources is None:
            raise RuntimeError("the government sync is not started")
        control, authenticator = build_control(
            replace(settings, state_machine_arn=self.resources.state_machine_arn)
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
        for task in self.definition.tasks:
            stepfunctions.DISPATCHER.unregister(self.definition.function_name(task))
        handlers.use(None)
        if self.app is not None:
            self.app.ministry.close()
            self.app = None
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None

    # -- use ---------------------------------------------------------------------------------------------
    @property
    def starter(self) -> SyncStarter:
        if self.resources is None:
            raise RuntimeError("the government sync is not started")
        return SyncStarter(
            StepFunctionsExecutions(self.client("stepfunctions"), self.resources.state_machine_arn)
        )

    def _scheduled(self, at: datetime) -> None:
        period = period_before(at.year, at.month)
        started = self.starter.start(period, list(self._schools()), "schedule")
        log.info("scheduled sync", extra={"period": period, "started": [s.execution_name for s in started]})

    def start_sync(self, period: str, schools: Sequence[str], started_by: str) -> list[Started]:
        return self.starter.start(period, schools, started_by)

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
        document = build_definition(
            DefinitionSettings(
                functions=functions,
                dlq_url=dlq_url,
                retry=self.config.retry or definition.retry,
                max_concurrency=definition.max_concurrency,
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
        return GovSyncResources(arn, dlq_url, bucket, ministry_url, functions)

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
