"""What the local platform is started with (``PlatformConfig``) and what a running one publishes for
the tools (``PlatformState``, ``platform.json``), with the names of the files in its state directory.

Apart from ``platform`` (the composition root) so that a tool can read a running platform's state
without importing everything the platform starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition, ThrottlingDefinition
from luca_infra.local.demo import DEMO_SCHOOLS, DemoSchool
from luca_infra.local.durable_state import DEFAULT_INTERVAL_SECONDS
from luca_infra.local.emulator import DEFAULT_PORT as DEFAULT_EMULATOR_PORT
from luca_infra.local.gateway import RateLimit
from luca_infra.local.govsync import GovSyncConfig
from luca_infra.local.supervisor import Backoff

DEFAULT_GATEWAY_PORT = 8000
DEFAULT_STATE_DIR = Path(".luca")
STATE_FILE = "platform.json"
ACCESS_LOG_FILE = "access.jsonl"
METRICS_FILE = "metrics.jsonl"
TRACES_FILE = "traces.jsonl"
LOGS_FILE = "logs.jsonl"
GRADING_READY_FILE = "grading.ready.json"
GATEWAY_READY_FILE = "gateway.ready.json"
GATEWAY_CONFIG_FILE = "gateway.json"
PROCESSOR_READY_FILE = "grade-processor.ready.json"
PROCESSOR_CONFIG_FILE = "grade-processor.json"
ANALYTICS_READY_FILE = "analytics.ready.json"


@dataclass(frozen=True)
class PlatformConfig:
    gateway_port: int = DEFAULT_GATEWAY_PORT
    rest_port: int = PLATFORM_DEFINITION.grading.rest_port
    grpc_port: int = PLATFORM_DEFINITION.grading.grpc_port
    emulator_port: int = DEFAULT_EMULATOR_PORT
    state_dir: Path = DEFAULT_STATE_DIR
    schools: tuple[DemoSchool, ...] = DEMO_SCHOOLS
    definition: PlatformDefinition = PLATFORM_DEFINITION
    # The limiter: the definition's throttling, with per-school tiers on top (tests use a tiny one).
    throttling: ThrottlingDefinition = PLATFORM_DEFINITION.throttling
    school_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    upstream_timeout_seconds: float = 10.0
    service_start_timeout_seconds: float = 60.0
    access_log_stdout: bool = True
    log_level: str = "INFO"
    # The event-source mapping's local-only knobs (see ``event_source``): pollers, and how soon a
    # failed message is retried (Lambda waits for the queue's whole visibility timeout).
    processor_concurrency: int = 1
    processor_retry_delay_seconds: int | None = 2
    # The government path's local knobs: shorter retries, the schedule, the ministry simulator's faults.
    govsync: GovSyncConfig = field(default_factory=GovSyncConfig)
    govsync_grpc_port: int = PLATFORM_DEFINITION.govsync_api.grpc_port
    # The analytics service (per-school reports over the lake): REST behind the gateway, gRPC internal.
    analytics_rest_port: int = PLATFORM_DEFINITION.analytics_api.rest_port
    analytics_grpc_port: int = PLATFORM_DEFINITION.analytics_api.grpc_port
    # Durable state: resume the emulator's snapshot in state_dir unless fresh; snapshot it this often
    # while running (0: only at a clean stop), and not at all unless durable.
    fresh: bool = False
    durable: bool = True
    snapshot_interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    # How a dead child is restarted (see supervisor.Backoff).
    restart_backoff: Backoff = field(default_factory=Backoff)

    @classmethod
    def ephemeral(cls, state_dir: Path, **overrides: Any) -> PlatformConfig:
        """Every port chosen by the OS: for tests and for running beside a platform already up."""
        ports = {
            "gateway_port": 0,
            "rest_port": 0,
            "grpc_port": 0,
            "emulator_port": 0,
            "govsync_grpc_port": 0,
            "analytics_rest_port": 0,
            "analytics_grpc_port": 0,
        }
        return cls(state_dir=state_dir, **(ports | overrides))


@dataclass(frozen=True)
class PlatformState:
    """What a running platform publishes in ``platform.json`` (read by ``luca token``, ``events``, ``dlq``)."""

    pid: int
    started_at: str
    region: str
    emulator_url: str
    gateway_url: str
    grading_rest_url: str
    grading_grpc_target: str
    jwks_url: str
    user_pool_id: str
    user_pool_client_id: str
    table_name: str
    stream_arn: str
    tenant_role_arn: str
    service_key_id: str
    users: dict[str, dict[str, str]]
    access_log: str
    metrics_file: str
    traces_file: str
    events_queue_url: str
    events_dlq_url: str
    govsync_state_machine_arn: str = ""
    govsync_dlq_url: str = ""
    govsync_manifest_bucket: str = ""
    ministry_url: str = ""
    govsync_grpc_target: str = ""
    # The lake (Parquet under lake_schema.LAKE_PREFIX) and its pipeline's EMF lines; empty in state
    # files written before the lake existed.
    lake_bucket: str = ""
    lake_metrics_file: str = ""
    analytics_rest_url: str = ""
    analytics_grpc_target: str = ""
    # Every process's JSON log lines (what `luca trace` reads); empty in older state files.
    logs_file: str = ""
    # The grade processor's batch role; empty in state files written before it existed.
    batch_role_arn: str = ""
    resumed: bool = False

    @classmethod
    def read(cls, state_dir: Path = DEFAULT_STATE_DIR) -> PlatformState:
        path = state_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{path} not found: is the platform running (`luca up`)?") from exc
        return cls(**raw)

    def write(self, state_dir: Path) -> Path:
        path = state_dir / STATE_FILE
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        scratch.replace(path)  # readers never see half a file
        return path
