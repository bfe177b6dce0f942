"""The gateway stand-in as its own process: ``python -m luca_infra.local.gateway_process``.

API Gateway is not part of the grading service's compute in AWS, and locally it should not share an
interpreter lock with the emulator either: every request crosses it twice. The platform writes the
gateway's configuration (upstream, authorizer, throttling, the event routes' queue) as JSON
(``GatewayConfig``) and passes its path in ``LUCA_GATEWAY_CONFIG``; the process announces its port
in the ready file and drains on SIGTERM/SIGINT.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jwt

from luca_infra.definitions import PLATFORM_DEFINITION, ThrottlingDefinition, TierDefinition
from luca_infra.local.gateway import (
    EventIntakeSettings,
    Gateway,
    GatewaySettings,
    RateLimit,
    SchoolRateLimiter,
    ServedGateway,
)
from luca_platform.process import announce_ready
from luca_platform.tokens import CognitoSettings, CognitoTokenVerifier

CONFIG_VARIABLE = "LUCA_GATEWAY_CONFIG"

log = logging.getLogger("luca.gateway")


@dataclass(frozen=True)
class GatewayConfig:
    host: str
    port: int
    ready_file: str
    upstream_url: str
    cognito: CognitoSettings
    throttling: ThrottlingDefinition
    school_limits: dict[str, RateLimit] = field(default_factory=dict)
    # Other services behind the gateway, by path prefix (see GatewaySettings.routes).
    routes: dict[str, str] = field(default_factory=dict)
    upstream_timeout_seconds: float = 10.0
    access_log_path: str | None = None
    access_log_stdout: bool = True
    log_level: str = "INFO"
    events: EventIntakeSettings | None = None
    # The edge's EMF lines (ThrottledRequests per school), beside the services' metrics.
    metrics_path: str | None = None
    metrics_namespace: str = PLATFORM_DEFINITION.metrics_namespace
    # The emulator whose usage plans hold created schools' keys (the tier of a school the
    # configuration does not name); empty: such a school gets the default tier.
    usage_plans_endpoint_url: str = ""
    usage_plans_region: str = ""

    def write(self, path: Path) -> Path:
        raw = asdict(self)
        raw["throttling"] = asdict(self.throttling)
        if self.events is not None:
            raw["events"] = {name: getattr(self.events, name) for name in self.events.__slots__}
        path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> GatewayConfig:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            **{
                **raw,
                "cognito": CognitoSettings(**raw["cognito"]),
                "throttling": ThrottlingDefinition(
                    **{
                        **raw["throttling"],
                        "tiers": tuple(TierDefinition(**tier) for tier in raw["throttling"]["tiers"]),
                    }
                ),
                "school_limits": {
                    school: RateLimit(**limit) for school, limit in raw["school_limits"].items()
                },
                "events": EventIntakeSettings(**raw["events"]) if raw.get("events") else None,
            }
        )

    def settings(self) -> GatewaySettings:
        return GatewaySettings(
            upstream_url=self.upstream_url,
            routes=self.routes,
            throttling=self.throttling,
            school_limits=self.school_limits,
            upstream_timeout_seconds=self.upstream_timeout_seconds,
            access_log_path=Path(self.access_log_path) if self.access_log_path else None,
            access_log_stdout=self.access_log_stdout,
            events=self.events,
            metrics_path=Path(self.metrics_path) if self.metrics_path else None,
            metrics_namespace=self.metrics_namespace,
        )


def usage_plan_tiers(config: GatewayConfig) -> Callable[[str], RateLimit | None] | None:
    """A school's limit from the tier whose usage plan holds its API key (as API Gateway keys it)."""
    if not config.usage_plans_endpoint_url:
        return None
    import boto3
    from botocore.config import Config

    from luca_infra.schools.edge import SchoolEdge

    apigateway = boto3.client(
        "apigateway",
        region_name=config.usage_plans_region,
        endpoint_url=config.usage_plans_endpoint_url,
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )
    edge = SchoolEdge(apigateway, config.throttling)

    def resolve(school_id: str) -> RateLimit | None:
        tier = edge.tier_of(school_id)
        return RateLimit.of_tier(config.throttling.tier(tier)) if tier else None

    return resolve


def serve(config: GatewayConfig) -> ServedGateway:
    keys = jwt.PyJWKClient(config.cognito.resolved_jwks_url, cache_keys=True, lifespan=3600, timeout=5)
    keys.get_jwk_set()  # fetched before the first request, never on it
    limiter = SchoolRateLimiter.from_definition(
        config.throttling, tiers=config.school_limits, resolve=usage_plan_tiers(config)
    )
    gateway = Gateway(
        config.settings(), verifier=CognitoTokenVerifier(config.cognito, jwks=keys), limiter=limiter
    )
    served = ServedGateway(gateway, host=config.host, port=config.port)
    served.start()
    return served


def main() -> None:
    from luca_platform.telemetry.logs import configure_logging
    from luca_platform.telemetry.tracing import configure_tracing_from_environment

    config = GatewayConfig.read(Path(os.environ[CONFIG_VARIABLE]))
    # LUCA_LOG_FILE and LUCA_OTEL_EXPORTER/LUCA_OTEL_FILE_PATH: the files `luca trace` reads.
    configure_logging("luca-gateway", config.log_level)
    configure_tracing_from_environment("gateway")
    for chatty in ("httpx", "httpcore"):
        # One line per upstream call would double the gateway's access log.
        logging.getLogger(chatty).setLevel(logging.WARNING)
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signum})
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    served = serve(config)
    gc.freeze()  # start-up objects stay out of the collector's full passes
    try:
        announce_ready(Path(config.ready_file), gateway_port=served.port)
        log.info("gateway ready", extra={"url": served.url})
        stopped.wait()
    finally:
        served.stop()


if __name__ == "__main__":
    main()
