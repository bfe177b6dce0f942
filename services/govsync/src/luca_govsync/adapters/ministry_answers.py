"""How the ministry client reads the ministry's answers: the error a status stands for, and the
verdicts and answers it trusts. What counts as one is strict: a 200 whose body does not say, in the
contract's words, what happened to exactly what was sent is ``MinistryGarbled``, never a success.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from luca_govsync.domain.changes import ChangeOutcome
from luca_govsync.domain.errors import (
    MinistryError,
    MinistryGarbled,
    MinistryRefused,
    MinistryThrottled,
    MinistryUnavailable,
)
from luca_govsync.domain.model import GradeRecord, RecordOutcome, RecordStatus
from luca_govsync.domain.tally import ChangeKind

# Step Functions keeps an error's cause; the ministry's prose is cut so it stays a cause, not a page.
MAX_DETAIL = 300
_STATUSES = {status.value: status for status in RecordStatus}


def failure(response: httpx.Response, operation: str, *, now: datetime) -> MinistryError:
    """The error a non-200 answer stands for (the 401 retry and the GET's 404 are handled before)."""
    status = response.status_code
    what = describe(response)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
        return MinistryThrottled(f"{operation}: 429 {what}", status=status, retry_after=retry_after)
    if status >= 500:
        return MinistryUnavailable(f"{operation}: {status} {what}", status=status)
    return MinistryRefused(f"{operation}: {status} {what}", status=status)


def describe(response: httpx.Response) -> str:
    """The ministry's own words for an error: the problem's title and detail, or what the body was."""
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type:
        return "(an HTML page: the ministry's maintenance or gateway page)"
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "(no problem body)" if not response.content else "(an unreadable body)"
    if not isinstance(body, dict):
        return "(a body that is not a problem)"
    parts = [str(body[key]) for key in ("title", "detail") if isinstance(body.get(key), str) and body[key]]
    if isinstance(body.get("type"), str) and body["type"] not in {"", "about:blank"}:
        parts.append(f"[{body['type']}]")
    return " ".join(parts)[:MAX_DETAIL] or "(an empty problem)"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # an HTTP-date is GMT even when it does not say so properly
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def json_object(response: httpx.Response, operation: str) -> dict[str, Any]:
    """A 200's body as a JSON object, or ``MinistryGarbled``."""
    if "html" in response.headers.get("content-type", "").lower():
        raise MinistryGarbled(f"{operation}: an HTML page where JSON was due", status=response.status_code)
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MinistryGarbled(
            f"{operation}: the answer is not valid JSON (truncated?)", status=response.status_code
        ) from exc
    if not isinstance(body, dict):
        raise MinistryGarbled(f"{operation}: the answer is not a JSON object", status=response.status_code)
    return body


def outcomes(
    body: dict[str, Any], client_batch_id: str, records: Sequence[GradeRecord] | None
) -> list[RecordOutcome]:
    """The outcomes a verdict gives, checked against the contract and against the records sent."""

    def garbled(detail: str) -> MinistryGarbled:
        return MinistryGarbled(f"verdict on {client_batch_id}: {detail}", status=200)

    if body.get("client_batch_id") != client_batch_id:
        raise garbled("the verdict names another batch")
    if not isinstance(body.get("replayed"), bool) or not isinstance(body.get("received_at"), str):
        raise garbled("replayed or received_at missing or mistyped")
    results = body.get("results")
    if not isinstance(results, list):
        raise garbled("results missing or not a list")
    sent = {record.record_id: record for record in records} if records is not None else None
    outcomes: dict[str, RecordOutcome] = {}
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise garbled(f"result {index} is not an object")
        record_id, status = result.get("record_id"), result.get("status")
        reason_code, reason = result.get("reason_code", ""), result.get("reason", "")
        if not isinstance(record_id, str) or not record_id:
            raise garbled(f"result {index} has no record_id")
        if status not in _STATUSES:
            raise garbled(f"result {index} has a status the contract does not define")
        if not isinstance(reason_code, str) or not isinstance(reason, str):
            raise garbled(f"result {index} has a mistyped reason")
        if status == RecordStatus.REJECTED and not reason_code:
            raise garbled(f"result {index} is a rejection without a reason_code")
        if sent is not None and record_id not in sent:
            raise garbled(f"result {index} is for a record that was not sent")
        if record_id in outcomes:
            raise garbled(f"result {index} repeats a record")
        record = sent[record_id] if sent is not None else None
        outcomes[record_id] = RecordOutcome(
            record_id,
            record.student_id if record else "",
            _STATUSES[status],
            reason_code,
            reason,
            record.version if record else 1,
        )
    if sent is None:
        return list(outcomes.values())
    if missing := len(sent) - len(outcomes):
        raise garbled(f"{missing} record(s) sent have no result")
    return [outcomes[record.record_id] for record in records or ()]


def change_outcome(
    body: dict[str, Any], client_change_id: str, kind: ChangeKind, record: GradeRecord
) -> ChangeOutcome:
    """The answer to one change, checked against the contract and against the change sent."""

    def garbled(detail: str) -> MinistryGarbled:
        return MinistryGarbled(f"answer to {client_change_id}: {detail}", status=200)

    if body.get("client_change_id") != client_change_id:
        raise garbled("the answer names another change")
    if body.get("record_id") != record.record_id or body.get("kind") != kind.value:
        raise garbled("the answer is for another record or another kind of change")
    if body.get("version") != record.version or isinstance(body.get("version"), bool):
        raise garbled("the answer is for another version")
    if not isinstance(body.get("replayed"), bool) or not isinstance(body.get("received_at"), str):
        raise garbled("replayed or received_at missing or mistyped")
    status, reason_code, reason = body.get("status"), body.get("reason_code", ""), body.get("reason", "")
    if status not in _STATUSES:
        raise garbled("a status the contract does not define")
    if not isinstance(reason_code, str) or not isinstance(reason, str):
        raise garbled("a mistyped reason")
    if status == RecordStatus.REJECTED and not reason_code:
        raise garbled("a rejection without a reason_code")
    return ChangeOutcome(
        record.record_id,
        record.student_id,
        kind,
        record.version,
        _STATUSES[status],
        reason_code,
        reason,
        replayed=body["replayed"],
    )
