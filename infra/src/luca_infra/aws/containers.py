"""What every Luca Fargate task shares: the tracing sidecar, the scratch volume, log retention, the
image built from an allowlisted copy of the repository, and the in-container health check.

The Fargate services behind the shared load balancer (``constructs.LoadBalancedFargateService``:
grading, the government sync's API, the analytics query service) are built from these, so they
cannot drift apart in how they trace, log or build.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import aws_cdk as cdk
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs

from luca_platform.telemetry.context import CORRELATION_ATTRIBUTE, SCHOOL_ATTRIBUTE

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
COLLECTOR_CONTAINER = "otel-collector"
OTLP_HTTP_ENDPOINT = "127.0.0.1:4318"
SCRATCH_DIR = "/tmp"  # noqa: S108  (a per-task ephemeral volume, not a shared host directory)
SCRATCH_VOLUME = "scratch"
# Each service's own lock sits next to its Dockerfile (services/<name>/requirements.lock, `make lock`).
SERVICE_LOCK = "requirements.lock"

# Span attributes the X-Ray exporter turns into annotations (indexed, so filterable). It replaces
# every character but letters and digits with '_': the filter is
# `annotation.luca_correlation_id = "<id>"` (and `annotation.luca_school_id`).
XRAY_INDEXED_ATTRIBUTES = (CORRELATION_ATTRIBUTE, SCHOOL_ATTRIBUTE)

# The ADOT collector takes OTLP from the service on loopback and exports to X-Ray.
COLLECTOR_CONFIG = {
    "receivers": {"otlp": {"protocols": {"http": {"endpoint": OTLP_HTTP_ENDPOINT}}}},
    "processors": {"batch": {"timeout": "1s"}},
    "exporters": {"awsxray": {"indexed_attributes": list(XRAY_INDEXED_ATTRIBUTES)}},
    "service": {
        "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["awsxray"]}}
    },
}


def repository_image(repo_root: Path, dockerfile: str, allowlist: Sequence[str]) -> ecs.ContainerImage:
    """An image asset built at deploy time (never at synth) from an allowlisted copy of the root.

    ``dockerfile`` is ``services/<name>/Dockerfile``; the build installs from the service's own lock
    beside it, so both must exist when the app is synthesized (synth only stages and hashes them).
    """
    lock = PurePosixPath(dockerfile).with_name(SERVICE_LOCK).as_posix()
    if not (repo_root / dockerfile).is_file():
        raise FileNotFoundError(f"no {dockerfile} under {repo_root}: the image's build context is wrong")
    if not (repo_root / lock).is_file():
        raise FileNotFoundError(
            f"{lock} does not exist: the image installs from its service's own lock; run `make lock`"
        )
    return ecs.ContainerImage.from_asset(
        str(repo_root),
        file=dockerfile,
        exclude=list(allowlist),
        ignore_mode=cdk.IgnoreMode.DOCKER,
        platform=ecr_assets.Platform.LINUX_AMD64,
    )


def mount_scratch(container: ecs.ContainerDefinition) -> None:
    """The root filesystem is read-only; the task's own scratch volume backs /tmp."""
    container.add_mount_points(
        ecs.MountPoint(container_path=SCRATCH_DIR, source_volume=SCRATCH_VOLUME, read_only=False)
    )


def http_health_check(port: int, path: str) -> ecs.HealthCheck:
    """ECS's in-container check: the REST server answers ``path`` on loopback."""
    return ecs.HealthCheck(
        command=[
            "CMD",
            "python",
            "-c",
            f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=2)",
        ],
        interval=cdk.Duration.seconds(15),
        timeout=cdk.Duration.seconds(5),
        retries=3,
        start_period=cdk.Duration.seconds(30),
    )


def add_collector(
    task: ecs.TaskDefinition, *, image: str, log_group: logs.ILogGroup
) -> ecs.ContainerDefinition:
    """The ADOT collector sidecar (shares the task role: X-Ray write actions only)."""
    collector = task.add_container(
        COLLECTOR_CONTAINER,
        image=ecs.ContainerImage.from_registry(image),
        # Losing traces must not take the service down.
        essential=False,
        readonly_root_filesystem=True,
        environment={"AOT_CONFIG_CONTENT": json.dumps(COLLECTOR_CONFIG, separators=(",", ":"))},
        logging=ecs.LogDrivers.aws_logs(
            stream_prefix=COLLECTOR_CONTAINER, log_group=log_group, mode=ecs.AwsLogDriverMode.NON_BLOCKING
        ),
    )
    mount_scratch(collector)
    return collector
