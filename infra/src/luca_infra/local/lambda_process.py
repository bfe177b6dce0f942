"""The grade processor's Lambda stand-in as its own process: ``python -m luca_infra.local.lambda_process``.

In AWS the function runs in its own execution environment, configured only by its environment
variables; here too. The platform passes the function's settings (``LUCA_TABLE_NAME``,
``LUCA_AWS_ENDPOINT_URL``, ``LUCA_TENANT_ROLE_ARN``, ``POWERTOOLS_*``, region and credentials) in the
environment, and the event-source mapping's settings as JSON in the file named by
``LUCA_EVENT_SOURCE_CONFIG``. The process hosts the mapping's pollers (``event_source``), which
invoke ``luca_ingest.entrypoints.handler.handler`` in this process: the handler builds its app on
the first batch and keeps it, like a warm instance. It announces itself in the ready file once
polling, and on SIGTERM/SIGINT settles the batch in hand and exits.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from luca_infra.local.event_source import EventSourceMapping, EventSourceRunner
from luca_platform.process import announce_ready

CONFIG_VARIABLE = "LUCA_EVENT_SOURCE_CONFIG"

log = logging.getLogger("luca.event_source")


@dataclass(frozen=True)
class LambdaProcessConfig:
    mapping: EventSourceMapping
    ready_file: str
    log_level: str = "INFO"

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> LambdaProcessConfig:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{**raw, "mapping": EventSourceMapping(**raw["mapping"])})


def _copy_function_lines(function_logger: Any) -> None:
    """The function's Powertools lines, which bypass the root handlers, appended to the shared log
    file too (in Lambda they reach CloudWatch Logs from stdout)."""
    from luca_platform.telemetry.logs import LOG_FILE_VARIABLE, AppendingFileHandler

    path = os.environ.get(LOG_FILE_VARIABLE)
    if not path:
        return
    copy = AppendingFileHandler(path)
    copy.setFormatter(function_logger.registered_formatter)
    copy.setLevel(logging.INFO)
    if function_logger.log_level > logging.INFO:
        # The file keeps INFO (`luca trace` reads it); stdout keeps the configured level.
        function_logger.registered_handler.setLevel(function_logger.log_level)
        function_logger.setLevel(logging.INFO)
    function_logger.addHandler(copy)


def main() -> None:
    from luca_platform.telemetry.logs import configure_logging
    from luca_platform.telemetry.tracing import configure_tracing_from_environment

    config = LambdaProcessConfig.read(Path(os.environ[CONFIG_VARIABLE]))
    # LUCA_LOG_FILE and LUCA_OTEL_EXPORTER/LUCA_OTEL_FILE_PATH: the runner's and the handler's spans
    # and lines land in the files `luca trace` reads (in AWS the ADOT layer provides the provider).
    configure_logging("luca-event-source", config.log_level)
    configure_tracing_from_environment("grade-processor")
    # Imported once the root handler exists: Powertools' Logger then filters its own records out of
    # it (they are printed once, by the function's logger, as in Lambda).
    from luca_ingest.entrypoints import handler as function
    from luca_ingest.entrypoints.handler import handler

    _copy_function_lines(function.logger)

    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signum})
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner = EventSourceRunner(config.mapping, handler).start()
    try:
        announce_ready(Path(config.ready_file))
        stopped.wait()
    finally:
        runner.stop()


if __name__ == "__main__":
    main()
