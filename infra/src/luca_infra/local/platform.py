"""``LocalPlatform``: the composition root of the local platform, and the only one.

Starts, in order, the embedded emulator (with its local-only fixes, see ``emulator_fixes``), the
resources provisioned from the definitions (table, user pool, tenant role, service-identity key, the
events queue and its DLQ), the grading service (REST + gRPC in its own process, as in its own
container in AWS, wired to the emulator exactly as to AWS through ``LUCA_*`` settings: endpoint URL,
per-school AssumeRole with the session tag, JWKS of the user pool, KMS service-identity key), the
grade processor behind its event-source mapping (``lambda_process``: the queue's pollers and the
Lambda handler, in a process of their own, configured like the function through its environment),
the gateway stand-in in front of both (its own process too: API Gateway is not the service's
compute, and it must not queue behind the emulator), and the demo schools. ``stop()`` undoes it in
reverse order: the gateway stops taking events before the processor settles its last batch.

Ports are configurable; 0 picks free ones (tests). Local artefacts go to ``state_dir`` (``.luca/``):
``platform.json`` (what ``luca token``, ``luca events`` and ``luca dlq`` read; removed on stop), the
gateway's access log, the service's EMF metrics, every process's spans (``traces.jsonl``) and JSON
logs (``logs.jsonl``, what ``luca trace`` reads), and the emulator's snapshot (``durable_state``):
``start()`` resumes what it holds (``fresh`` discards it first). The child processes are supervised
(``supervisor``): one that dies is logged and restarted on the same ports. After provisioning, the
stage resources document of stage ``local`` is published in the emulator's SSM, as the CDK app
publishes a deployed stage's.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import boto3
import jwt

from luca_govsync.config import ApiSettings
from luca_grading.config import GradingSettings
from luca_infra.local.demo import (
    DemoIdentities,
    DemoRole,
    DemoSchool,
    mark_seeded,
    seed_school,
    seeded,
)
from luca_infra.local.durable_state import DurableState
from luca_infra.local.emulator import HOST, Emulator, require_free_port
from luca_infra.local.event_source import EventSourceMapping
from luca_infra.local.gateway import EventIntakeSettings, RateLimit, SchoolRateLimiter
from luca_infra.local.gateway_process import CONFIG_VARIABLE, GatewayConfig
from luca_infra.local.govsync import GovSyncResources, LocalGovSync
from luca_infra.local.lake import LocalLake, local_pseudonym_key
from luca_infra.local.lambda_process import CONFIG_VARIABLE as LAMBDA_CONFIG_VARIABLE
from luca_infra.local.lambda_process import LambdaProcessConfig
from luca_infra.local.platform_config import (
    ACCESS_LOG_FILE,
    ANALYTICS_READY_FILE,
    DEFAULT_GATEWAY_PORT,
    DEFAULT_STATE_DIR,
    GATEWAY_CONFIG_FILE,
    GATEWAY_READY_FILE,
    GRADING_READY_FILE,
    LOGS_FILE,
    METRICS_FILE,
    PROCESSOR_CONFIG_FILE,
    PROCESSOR_READY_FILE,
    STATE_FILE,
    TRACES_FILE,
    PlatformConfig,
    PlatformState,
)
from luca_infra.local.provision import (
    LifecycleResources,
    ProvisionedResources,
    lifecycle_resources,
    provision,
)
from luca_infra.local.service_process import ServiceProcess, ServiceSpec, settings_environment
from luca_infra.local.supervisor import Backoff, SupervisedChild
from luca_infra.stage_resources import LOCAL_STAGE, LOG_TENANT_AUDIT, StageResources, publish
from luca_platform.telemetry.logs import attach_log_file, detach_log_file
from luca_platform.telemetry.tracing import configure_tracing
from luca_platform.tokens import CognitoSettings

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_ssm import SSMClient

# A cached demo token is replaced this long before it expires.
_TOKEN_REFRESH_MARGIN_SECONDS = 300

# Re-exported: tools and tests name them from here, where the platform is.
__all__ = [
    "ACCESS_LOG_FILE",
    "ANALYTICS_READY_FILE",
    "DEFAULT_GATEWAY_PORT",
    "DEFAULT_STATE_DIR",
    "GATEWAY_CONFIG_FILE",
    "GATEWAY_READY_FILE",
    "GRADING_READY_FILE",
    "LOGS_FILE",
    "METRICS_FILE",
    "PROCESSOR_CONFIG_FILE",
    "PROCESSOR_READY_FILE",
    "STATE_FILE",
    "TRACES_FILE",
    "LocalPlatform",
    "PlatformConfig",
    "PlatformState",
]

log = logging.getLogger("luca.local")


class LocalPlatform:
    """The whole platform on this machine. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, config: PlatformConfig | None = None) -> None:
        self.config = config or PlatformConfig()
        self._emulator = Emulator(port=self.config.emulator_port)
        self._resources: ProvisionedResources | None = None
        self._lifecycle: LifecycleResources | None = None
        self._grading: SupervisedChild | None = None
        self._gateway: SupervisedChild | None = None
        self._processor: SupervisedChild | None = None
        self.durable_state = DurableState(
            self.config.state_dir, interval_seconds=self.config.snapshot_interval_seconds
        )
        self.resumed = False
        self.govsync: LocalGovSync | None = None
        self.govsync_grpc_port: int | None = None
        self.lake: LocalLake | None = None
        self._identities: DemoIdentities | None = None
        self._state_path: Path | None = None
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._token_lock = threading.Lock()
        self._stops: list[tuple[str, Callable[[], None]]] = []
        self.rest_port: int | None = None
        self.grpc_port: int | None = None
        self.gateway_port: int | None = None
        self._analytics: SupervisedChild | None = None
        self.analytics_rest_port: int | None = None
        self.analytics_grpc_port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> LocalPlatform:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalPlatform:
        started = time.perf_counter()
        try:
            self._check_ports()
            self.config.state_dir.mkdir(parents=True, exist_ok=True)
            self._telemetry_to_state_dir()
            self._start_emulator()
            # Provisioning reuses what a resumed state holds (table, pool, client, roles, queues).
            self._resources = provision(self._emulator.url, definition=self.config.definition)
            # The tiers' usage plans before the gateway, which finds a created school's tier in them.
            self._lifecycle = lifecycle_resources(self._emulator.url, definition=self.config.definition)
            self._start_lake()
            self._start_grading()
            self._start_processor()
            self._start_analytics()
            self._start_gateway()
            self._start_govsync()
            self._publish_stage_resources()
            self._seed_demo()
            self._publish_state()
            if self.config.durable:
                self.durable_state.start_periodic()
        except BaseException:
            self.stop()
            raise
        # Everything loaded so far (modules, clients, provisioned state) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise stall every request they hit.
        gc.freeze()
        log.info(
            "local platform ready",
            extra={"seconds": round(time.perf_counter() - started, 2), "resumed": self.resumed},
        )
        return self

    def stop(self) -> None:
        """Stop whatever was started, last first; one part failing does not keep the rest running."""
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)
        self._grading = None
        self._gateway = None
        self._processor = None
        self._analytics = None
        self.rest_port = self.grpc_port = self.gateway_port = None
        self.analytics_rest_port = self.analytics_grpc_port = None

    def _telemetry_to_state_dir(self) -> None:
        """The platform's own threads (lake poller, Step Functions tasks, the government sync's API)
        log and trace into the state directory's files, beside the children: ``luca trace`` reads
        them. Tracing is process-wide; a later platform in the same process re-points the file."""
        state_dir = self.config.state_dir
        configure_tracing(service="local-platform", exporter="file", file_path=state_dir / TRACES_FILE)
        handler = attach_log_file("luca-local", state_dir / LOGS_FILE)
        self._stops.append(("log file", lambda: detach_log_file(handler)))

    def _check_ports(self) -> None:
        config = self.config
        for port in (
            config.gateway_port,
            config.rest_port,
            config.grpc_port,
            config.emulator_port,
            config.govsync_grpc_port,
            config.analytics_rest_port,
            config.analytics_grpc_port,
        ):
            if port:
                # gRPC binds with SO_REUSEPORT and would silently share a taken port: check first.
                require_free_port(port)

    def _start_emulator(self) -> None:
        if self.config.durable:
            if self.config.fresh:
                self.durable_state.discard()
            # Before the emulator serves: nothing may see (or create) state the snapshot replaces.
            self.resumed = self.durable_state.restore()
        self._emulator.start()
        self._stops.append(("emulator", self._emulator.stop))
        if self.config.durable:
            # Runs after everything else has stopped (stops run last first): one consistent state,
            # the lake's buffer flushed, no child writing.
            self._stops.append(("local state", self._save_state))

    def _save_state(self) -> None:
        self.durable_state.stop_periodic()
        self.durable_state.save()
        log.info("local state saved", extra={"path": str(self.durable_state.path)})

    def child_environment(self) -> dict[str, str]:
        """What every child process gets besides its own settings: where its logs and spans go."""
        state_dir = self.config.state_dir
        return {
            "LUCA_LOG_FILE": str(state_dir / LOGS_FILE),
            "LUCA_OTEL_EXPORTER": "file",
            "LUCA_OTEL_FILE_PATH": str(state_dir / TRACES_FILE),
        }

    def _supervise(
        self, spec: ServiceSpec, on_restart: Callable[[ServiceProcess], None] | None = None
    ) -> SupervisedChild:
        spec = ServiceSpec(
            name=spec.name,
            module=spec.module,
            environment={**self.child_environment(), **spec.environment},
            ready_file=spec.ready_file,
            timeout_seconds=spec.timeout_seconds,
            port_variables=spec.port_variables,
        )
        process = ServiceProcess.spawn(spec).wait_ready(spec.timeout_seconds)
        return SupervisedChild(
            spec,
            process,
            backoff=Backoff(
                initial=self.config.restart_backoff.initial,
                maximum=self.config.restart_backoff.maximum,
                healthy_seconds=self.config.restart_backoff.healthy_seconds,
            ),
            on_restart=on_restart,
        )

    def _start_lake(self) -> None:
        """The stream poller (Pipes + Firehose) and the TTL reaper: threads in this process, next to
        the emulator; stopping flushes the pipeline's buffer before the emulator goes."""
        resources = self.resources
        self.lake = LocalLake(
            endpoint_url=resources.endpoint_url,
            region=resources.region,
            table_name=resources.table_name,
            stream_arn=resources.stream_arn,
            state_dir=self.config.state_dir,
            definition=self.config.definition,
            account=resources.table_arn.split(":")[4],
        )
        self._stops.append(("lake pipeline", self.lake.stop))
        self.lake.start()

    def _start_grading(self) -> None:
        resources = self.resources
        definition = self.config.definition
        state_dir = self.config.state_dir
        settings = GradingSettings(
            service_name=definition.grading.name,
            aws_region=resources.region,
            aws_endpoint_url=resources.endpoint_url,
            table_name=resources.table_name,
            user_pool_id=resources.user_pool_id,
            user_pool_client_id=resources.user_pool_client_id,
            jwks_url=resources.jwks_url,
            school_claim=definition.user_pool.school_claim,
            student_claim=definition.user_pool.student_claim,
            tenant_role_arn=resources.tenant_role_arn,
            tenant_session_seconds=definition.tenant_role.session_duration_seconds,
            tenant_refresh_margin_seconds=definition.tenant_role.refresh_margin_seconds,
            service_token_key_id=resources.service_key_id,
            rest_host=HOST,
            rest_port=self.config.rest_port,
            grpc_host=HOST,
            grpc_port=self.config.grpc_port,
            log_level=self.config.log_level,
            otel_exporter="file",
            otel_file_path=str(state_dir / TRACES_FILE),
            metrics_namespace=definition.metrics_namespace,
            max_body_bytes=definition.request_body_limit_bytes,
            # In AWS the EMF lines go to stdout for the log driver; here to a file beside the traces.
            metrics_file_path=str(state_dir / METRICS_FILE),
            ready_file=str(state_dir / GRADING_READY_FILE),
            # A fresh page-cursor key per run, held nowhere else: an earlier run's cursors are
            # refused, as after a key rotation in AWS (where the key is a Secrets Manager secret).
            cursor_keys=secrets.token_urlsafe(48),
        )
        # Its own process, as its own container in AWS: the service does not share an interpreter
        # lock with the emulator and the gateway, and it is configured only by the environment.
        self._grading = self._supervise(
            ServiceSpec(
                name=definition.grading.name,
                module="luca_grading.entrypoints.main",
                environment=settings_environment(settings),
                ready_file=state_dir / GRADING_READY_FILE,
                timeout_seconds=self.config.service_start_timeout_seconds,
                port_variables={"rest_port": "LUCA_REST_PORT", "grpc_port": "LUCA_GRPC_PORT"},
            )
        )
        self._stops.append(("grading service", self._grading.stop))
        self.rest_port = self._grading.ports["rest_port"]
        self.grpc_port = self._grading.ports["grpc_port"]

    def analytics_environment(self) -> dict[str, str]:
        """The analytics service's environment: what its container gets in AWS, pointed here.

        The lake is the emulator's bucket (written by ``LocalLake``) read with DuckDB; in AWS the
        same service runs the same SQL on Athena. The pseudonymisation key is the local one the
        pipeline hashes with (in AWS: the Secrets Manager secret, injected by ECS)."""
        resources = self.resources
        definition = self.config.definition
        state_dir = self.config.state_dir
        if self.lake is None:
            raise RuntimeError("the lake pipeline is not started")
        pool = definition.user_pool
        return {
            "LUCA_TABLE_NAME": resources.table_name,
            "LUCA_USER_POOL_ID": resources.user_pool_id,
            "LUCA_USER_POOL_CLIENT_ID": resources.user_pool_client_id,
            "LUCA_PSEUDONYM_KEY": local_pseudonym_key(state_dir, definition).decode(),
            "LUCA_LAKE_BUCKET": self.lake.bucket,
            "LUCA_AWS_REGION": resources.region,
            "LUCA_AWS_ENDPOINT_URL": resources.endpoint_url,
            "LUCA_TENANT_ROLE_ARN": resources.tenant_role_arn,
            "LUCA_JWKS_URL": resources.jwks_url,
            "LUCA_SCHOOL_CLAIM": pool.school_claim,
            "LUCA_STUDENT_CLAIM": pool.student_claim,
            "LUCA_SERVICE_TOKEN_KEY_ID": resources.service_key_id,
            "LUCA_GRPC_HOST": HOST,
            "LUCA_GRPC_PORT": str(self.config.analytics_grpc_port),
            "LUCA_REST_HOST": HOST,
            "LUCA_REST_PORT": str(self.config.analytics_rest_port),
            "LUCA_READY_FILE": str(state_dir / ANALYTICS_READY_FILE),
            "LUCA_LOG_LEVEL": self.config.log_level,
            "LUCA_OTEL_EXPORTER": "file",
            "LUCA_OTEL_FILE_PATH": str(state_dir / TRACES_FILE),
        }

    def _start_analytics(self) -> None:
        # Its own process, as its own container in AWS.
        self._analytics = self._supervise(
            ServiceSpec(
                name="analytics",
                module="luca_analytics.entrypoints.main",
                environment=self.analytics_environment(),
                ready_file=self.config.state_dir / ANALYTICS_READY_FILE,
                timeout_seconds=self.config.service_start_timeout_seconds,
                port_variables={"rest_port": "LUCA_REST_PORT", "grpc_port": "LUCA_GRPC_PORT"},
            )
        )
        self._stops.append(("analytics service", self._analytics.stop))
        self.analytics_rest_port = self._analytics.ports["rest_port"]
        self.analytics_grpc_port = self._analytics.ports["grpc_port"]

    def processor_environment(self) -> dict[str, str]:
        """The grade processor's environment: what the CDK app sets on the function, pointed here."""
        resources = self.resources
        definition = self.config.definition
        return {
            "LUCA_TABLE_NAME": resources.table_name,
            "LUCA_AWS_REGION": resources.region,
            "LUCA_AWS_ENDPOINT_URL": resources.endpoint_url,
            "LUCA_BATCH_ROLE_ARN": resources.batch_role_arn,
            "POWERTOOLS_METRICS_NAMESPACE": definition.metrics_namespace,
            "POWERTOOLS_SERVICE_NAME": definition.ingest.function_name,
            "POWERTOOLS_LOG_LEVEL": self.config.log_level,
            # What the Lambda runtime sets for every function.
            "AWS_REGION": resources.region,
            "AWS_DEFAULT_REGION": resources.region,
            "AWS_LAMBDA_FUNCTION_NAME": definition.ingest.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(definition.ingest.memory_mib),
        }

    def _start_processor(self) -> None:
        resources = self.resources
        state_dir = self.config.state_dir
        config = LambdaProcessConfig(
            mapping=EventSourceMapping.from_definition(
                self.config.definition.ingest,
                queue_url=resources.events_queue_url,
                queue_arn=resources.events_queue_arn,
                region=resources.region,
                endpoint_url=resources.endpoint_url,
                max_concurrency=self.config.processor_concurrency,
                retry_delay_seconds=self.config.processor_retry_delay_seconds,
            ),
            ready_file=str(state_dir / PROCESSOR_READY_FILE),
            log_level=self.config.log_level,
        )
        path = config.write(state_dir / PROCESSOR_CONFIG_FILE)
        # Its own process, as the function runs in its own environment in AWS.
        self._processor = self._supervise(
            ServiceSpec(
                name=self.config.definition.ingest.function_name,
                module="luca_infra.local.lambda_process",
                environment={**self.processor_environment(), LAMBDA_CONFIG_VARIABLE: str(path)},
                ready_file=state_dir / PROCESSOR_READY_FILE,
                timeout_seconds=self.config.service_start_timeout_seconds,
            )
        )
        self._stops.append(("grade processor", self._processor.stop))

    def _start_gateway(self) -> None:
        resources = self.resources
        pool = self.config.definition.user_pool
        state_dir = self.config.state_dir
        config = GatewayConfig(
            host=HOST,
            port=self.config.gateway_port,
            ready_file=str(state_dir / GATEWAY_READY_FILE),
            upstream_url=self.grading_rest_url,
            routes={self.config.definition.analytics_api.rest_prefix: self.analytics_rest_url},
            cognito=CognitoSettings(
                region=resources.region,
                user_pool_id=resources.user_pool_id,
                client_id=resources.user_pool_client_id,
                school_claim=pool.school_claim,
                student_claim=pool.student_claim,
                jwks_url=resources.jwks_url,
            ),
            throttling=self.config.throttling,
            school_limits=self.school_limits(),
            upstream_timeout_seconds=self.config.upstream_timeout_seconds,
            access_log_path=str(state_dir / ACCESS_LOG_FILE),
            access_log_stdout=self.config.access_log_stdout,
            log_level=self.config.log_level,
            metrics_path=str(state_dir / METRICS_FILE),
            metrics_namespace=self.config.definition.metrics_namespace,
            events=EventIntakeSettings.from_definition(
                self.config.definition.ingest,
                queue_url=resources.events_queue_url,
                region=resources.region,
                endpoint_url=resources.endpoint_url,
                max_body_bytes=self.config.definition.request_body_limit_bytes,
            ),
            usage_plans_endpoint_url=resources.endpoint_url,
            usage_plans_region=resources.region,
        )
        path = config.write(state_dir / GATEWAY_CONFIG_FILE)
        # Its own process, like the managed edge in AWS: it does not queue behind the emulator.
        self._gateway = self._supervise(
            ServiceSpec(
                name="gateway",
                module="luca_infra.local.gateway_process",
                environment={CONFIG_VARIABLE: str(path)},
                ready_file=state_dir / GATEWAY_READY_FILE,
                timeout_seconds=self.config.service_start_timeout_seconds,
            )
        )
        self._stops.append(("gateway", self._gateway.stop))
        self.gateway_port = self._gateway.ports["gateway_port"]
        # A restarted gateway reads the same file: it must bind the port clients already use.
        replace(config, port=self.gateway_port).write(path)

    def _start_govsync(self) -> None:
        resources = self.resources
        self.govsync = LocalGovSync(
            emulator_url=resources.endpoint_url,
            region=resources.region,
            table_name=resources.table_name,
            tenant_role_arn=resources.tenant_role_arn,
            definition=self.config.definition.govsync,
            schools=lambda: [school.school_id for school in self.config.schools],
            config=self.config.govsync,
        )
        self._stops.append(("government sync", self.govsync.stop))
        self.govsync.start()
        pool = self.config.definition.user_pool
        self.govsync_grpc_port = self.govsync.serve_grpc(
            ApiSettings(
                table_name=resources.table_name,
                state_machine_arn="",  # the one the government sync provisioned
                user_pool_id=resources.user_pool_id,
                user_pool_client_id=resources.user_pool_client_id,
                aws_region=resources.region,
                aws_endpoint_url=resources.endpoint_url,
                tenant_role_arn=resources.tenant_role_arn,
                jwks_url=resources.jwks_url,
                school_claim=pool.school_claim,
                student_claim=pool.student_claim,
                service_token_key_id=resources.service_key_id,
                grpc_host=HOST,
                grpc_port=self.config.govsync_grpc_port,
            )
        )

    def _seed_demo(self) -> None:
        resources = self.resources
        self._identities = DemoIdentities(
            cognito=self.cognito(),
            user_pool_id=resources.user_pool_id,
            client_id=resources.user_pool_client_id,
            pool=self.config.definition.user_pool,
        )
        for school in self.config.schools:
            self._identities.create_users(school)
        ssm = self.ssm()
        # Straight to the service, not through the gateway: seeding is an operator's job and must not
        # spend the schools' request budget (nor be throttled by a test's tiny one). A school seeded
        # before (a resumed state) is not seeded again: its seed's idempotency records may have
        # expired, and its term is closed.
        for school in self.config.schools:
            if seeded(ssm, school):
                continue
            seed_school(
                self.grading_rest_url,
                school,
                admin_token=self.token_for(school.school_id, "admin"),
                teacher_token=self.token_for(school.school_id, "teacher"),
            )
            mark_seeded(ssm, school)

    def stage_resources(self) -> StageResources:
        """The stage resources document of stage ``local``: what ``--stage local`` tools find."""
        resources = self.resources
        govsync = self.govsync_resources
        return StageResources(
            stage=LOCAL_STAGE,
            region=resources.region,
            table_name=resources.table_name,
            tenant_role_arn=resources.tenant_role_arn,
            batch_role_arn=resources.batch_role_arn,
            events_queue_url=resources.events_queue_url,
            events_dlq_url=resources.events_dlq_url,
            govsync_state_machine_arn=govsync.state_machine_arn,
            govsync_dlq_url=govsync.dlq_url,
            govsync_manifest_bucket=govsync.manifest_bucket,
            lake_bucket=self.lake.bucket if self.lake else "",
            user_pool_id=resources.user_pool_id,
            alerts_topic_arn=self._lifecycle.alerts_topic_arn if self._lifecycle else "",
            # `luca trace` reads the state directory's files, not CloudWatch; the lifecycle's audit
            # trail is a log group in the emulator, as in AWS.
            log_groups={LOG_TENANT_AUDIT: self._lifecycle.audit_log_group} if self._lifecycle else {},
        )

    def _publish_stage_resources(self) -> None:
        publish(self.ssm(), self.stage_resources())

    def _publish_state(self) -> None:
        resources = self.resources
        state_dir = self.config.state_dir
        state = PlatformState(
            pid=os.getpid(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            region=resources.region,
            emulator_url=resources.endpoint_url,
            gateway_url=self.gateway_url,
            grading_rest_url=self.grading_rest_url,
            grading_grpc_target=self.grading_grpc_target,
            jwks_url=resources.jwks_url,
            user_pool_id=resources.user_pool_id,
            user_pool_client_id=resources.user_pool_client_id,
            table_name=resources.table_name,
            stream_arn=resources.stream_arn,
            tenant_role_arn=resources.tenant_role_arn,
            batch_role_arn=resources.batch_role_arn,
            service_key_id=resources.service_key_id,
            users={
                s.school_id: {role: name for role, name in s.usernames().items()} for s in self.config.schools
            },
            access_log=str(state_dir / ACCESS_LOG_FILE),
            metrics_file=str(state_dir / METRICS_FILE),
            traces_file=str(state_dir / TRACES_FILE),
            events_queue_url=resources.events_queue_url,
            events_dlq_url=resources.events_dlq_url,
            govsync_state_machine_arn=self.govsync_resources.state_machine_arn,
            govsync_dlq_url=self.govsync_resources.dlq_url,
            govsync_manifest_bucket=self.govsync_resources.manifest_bucket,
            ministry_url=self.govsync_resources.ministry_url,
            govsync_grpc_target=f"{HOST}:{self.govsync_grpc_port}",
            lake_bucket=self.lake.bucket if self.lake else "",
            lake_metrics_file=str(self.lake.metrics_path) if self.lake else "",
            analytics_rest_url=self.analytics_rest_url,
            analytics_grpc_target=self.analytics_grpc_target,
            logs_file=str(state_dir / LOGS_FILE),
            resumed=self.resumed,
        )
        self._state_path = state.write(state_dir)
        self._stops.append(("state file", self._remove_state))

    def _remove_state(self) -> None:
        if self._state_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._state_path.unlink()
            self._state_path = None

    # -- what it exposes ---------------------------------------------------------------------------
    @property
    def govsync_resources(self) -> GovSyncResources:
        if self.govsync is None or self.govsync.resources is None:
            raise RuntimeError("the government sync is not started")
        return self.govsync.resources

    @property
    def resources(self) -> ProvisionedResources:
        if self._resources is None:
            raise RuntimeError("the platform is not started")
        return self._resources

    @property
    def emulator_url(self) -> str:
        return self._emulator.url

    @property
    def gateway_url(self) -> str:
        if self.gateway_port is None:
            raise RuntimeError("the gateway is not running")
        return f"http://{HOST}:{self.gateway_port}"

    def rate_limit_for(self, school_id: str) -> RateLimit:
        """The gateway's bucket for ``school_id``, from the same configuration the gateway runs with."""
        limiter = SchoolRateLimiter.from_definition(self.config.throttling, tiers=self.school_limits())
        return limiter.limit_for(school_id)

    def school_limits(self) -> dict[str, RateLimit]:
        """Each enrolled school's bucket: its tier by enrolment (the usage plan it has in AWS), unless
        the configuration sets one for it (tests use a tiny one)."""
        throttling = self.config.throttling
        by_tier = {
            school.school_id: RateLimit.of_tier(throttling.tier_for_enrolment(school.enrolment))
            for school in self.config.schools
        }
        return by_tier | dict(self.config.school_limits)

    @property
    def grading_rest_url(self) -> str:
        if self.rest_port is None:
            raise RuntimeError("the grading service is not running")
        return f"http://{HOST}:{self.rest_port}"

    @property
    def grading_grpc_target(self) -> str:
        if self.grpc_port is None:
            raise RuntimeError("the grading service is not running")
        return f"{HOST}:{self.grpc_port}"

    @property
    def analytics_rest_url(self) -> str:
        if self.analytics_rest_port is None:
            raise RuntimeError("the analytics service is not running")
        return f"http://{HOST}:{self.analytics_rest_port}"

    @property
    def analytics_grpc_target(self) -> str:
        if self.analytics_grpc_port is None:
            raise RuntimeError("the analytics service is not running")
        return f"{HOST}:{self.analytics_grpc_port}"

    @property
    def access_log_path(self) -> Path:
        return self.config.state_dir / ACCESS_LOG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.config.state_dir / METRICS_FILE

    def school(self, school_id: str) -> DemoSchool:
        for school in self.config.schools:
            if school.school_id == school_id:
                return school
        raise KeyError(f"no demo school {school_id!r}")

    @property
    def children(self) -> dict[str, SupervisedChild]:
        """The supervised child processes, by name (grading, analytics, grade processor, gateway)."""
        found = (self._grading, self._analytics, self._processor, self._gateway)
        return {child.name: child for child in found if child is not None}

    @property
    def logs_path(self) -> Path:
        return self.config.state_dir / LOGS_FILE

    def ssm(self) -> SSMClient:
        return boto3.client("ssm", region_name=self.resources.region, endpoint_url=self.emulator_url)

    def cognito(self) -> CognitoIdentityProviderClient:
        return boto3.client("cognito-idp", region_name=self.resources.region, endpoint_url=self.emulator_url)

    def token_for(self, school_id: str, role: DemoRole) -> str:
        """A real Cognito ID token of the demo ``role`` user of ``school_id`` (cached until near expiry)."""
        if self._identities is None:
            raise RuntimeError("the platform is not started")
        key = (school_id, role)
        with self._token_lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] - _TOKEN_REFRESH_MARGIN_SECONDS > time.time():
                return cached[0]
            token = self._identities.id_token(self.school(school_id).username(role))
            expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
            self._tokens[key] = (token, expires)
            return token
