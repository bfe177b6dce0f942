"""The tenant lifecycle's audit trail: one JSON record per school created, exported or erased.

Where: a CloudWatch Logs group of its own (``PlatformDefinition.tenant_audit_log_group``, named in the
stage's resources under ``LOG_TENANT_AUDIT``), kept forever, outside every school's keys, so erasing a
school leaves the record of its erasure. Operators read it with ``luca schools audit`` (or Logs
Insights). A record holds ids, counts, checksums and who acted, never a school's data.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any


class AuditTrail:
    def __init__(self, logs: Any, log_group: str) -> None:
        if not log_group:
            raise ValueError("the stage's resources name no tenant audit log group (publish them again)")
        self._logs, self.log_group = logs, log_group

    def record(self, action: str, school_id: str, **details: Any) -> dict[str, Any]:
        """Append one record (its own stream: no sequence tokens to coordinate); returns it."""
        now = datetime.now(UTC)
        entry = {"action": action, "school_id": school_id, "at": now.isoformat(timespec="seconds"), **details}
        stream = f"{now:%Y/%m/%d}/{action}/{school_id}/{uuid.uuid4().hex[:12]}"
        self._logs.create_log_stream(logGroupName=self.log_group, logStreamName=stream)
        self._logs.put_log_events(
            logGroupName=self.log_group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(entry, sort_keys=True)}],
        )
        return entry

    def records(self, school_id: str | None = None) -> list[dict[str, Any]]:
        """Every record (one school's when given), oldest first."""
        found = []
        for page in self._logs.get_paginator("filter_log_events").paginate(logGroupName=self.log_group):
            for event in page.get("events", []):
                try:
                    entry = json.loads(event["message"])
                except ValueError:
                    continue
                if school_id is None or entry.get("school_id") == school_id:
                    found.append(entry)
        return sorted(found, key=lambda entry: str(entry.get("at", "")))


def caller(sts: Any) -> str:
    """Who is acting: the caller's ARN (an assumed operator role names the person's session)."""
    try:
        return str(sts.get_caller_identity()["Arn"])
    except Exception:  # the audit record still says what happened without it
        return "unknown"
