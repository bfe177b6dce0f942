"""``luca dlq list`` and ``luca dlq redrive``: the events' dead-letter queue.

``list`` shows each dead-lettered event with its school, event id, receive count and why it fails,
found by running it through the processor's dry run; the messages stay in the DLQ. ``redrive``
moves messages back to the events queue with their body and attributes, deleting each from the DLQ
only once it was sent.

Both run against the local platform, or a deployed stage with ``--stage NAME`` (the alarm texts
quote ``luca dlq list --stage prod`` and ``luca dlq redrive --all --stage prod``); see ``stage``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from luca_infra.cli.stage import Target, TargetUnavailable, add_target_arguments, resolve_or_report

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# How long ``dlq`` commands hold the messages they read before they are visible again (if the
# command dies before it releases them itself).
DLQ_HOLD_SECONDS = 30
SQS_BATCH = 10


def add_parser(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="the events' dead-letter queue")
    dlq_commands = dlq.add_subparsers(dest="dlq_command")
    listing = dlq_commands.add_parser("list", help="why each dead-lettered event fails (nothing is removed)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add_target_arguments(listing)
    redrive = dlq_commands.add_parser("redrive", help="move dead-lettered events back to the events queue")
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every message in the DLQ")
    which.add_argument("--message-id", action="append", dest="message_ids", help="this message (repeatable)")
    add_target_arguments(redrive)


@dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered event and what the processor's dry run makes of it now."""

    message_id: str
    school_id: str | None
    event_id: str | None
    # SQS's ApproximateReceiveCount before this listing: the receives from the events queue, plus any
    # earlier listings (SQS has no way to look at a message without receiving it).
    receives: int
    status: str  # "failed", or "stored"/"duplicate" when it would now succeed
    reason: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "school_id": self.school_id,
            "event_id": self.event_id,
            "receives": self.receives,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
        }


def hold_messages(
    sqs: SQSClient, queue_url: str, *, hold_seconds: int = DLQ_HOLD_SECONDS, limit: int | None = None
) -> list[dict[str, Any]]:
    """Every message of the queue (or the first ``limit``), each kept invisible for ``hold_seconds``.

    Ends with a one-second long poll that found nothing new (short polls may miss messages).
    """
    held: list[dict[str, Any]] = []
    seen: set[str] = set()
    while limit is None or len(held) < limit:
        wanted = SQS_BATCH if limit is None else min(SQS_BATCH, limit - len(held))
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=wanted,
            WaitTimeSeconds=1,
            VisibilityTimeout=hold_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh: list[dict[str, Any]] = [dict(m) for m in received if m["MessageId"] not in seen]
        if not fresh:
            break
        held.extend(fresh)
        seen.update(str(message["MessageId"]) for message in fresh)
    return held


def release_messages(sqs: SQSClient, queue_url: str, messages: Sequence[Mapping[str, Any]]) -> None:
    """Make held messages visible again at once (they stay where they are)."""
    for start in range(0, len(messages), SQS_BATCH):
        chunk = messages[start : start + SQS_BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, message in enumerate(chunk)
            ],
        )


def explain_dead_letters(
    messages: Sequence[Mapping[str, Any]], processor: Any, *, queue_arn: str, region: str
) -> list[DeadLetter]:
    """Run the messages through the processor's dry run (nothing is written): why does each fail?"""
    from luca_infra.local.event_source import lambda_record
    from luca_ingest.entrypoints.handler import incoming

    records = [incoming(lambda_record(m, queue_arn=queue_arn, region=region)) for m in messages]
    outcome = processor.process(records, write=False)
    letters = []
    for message, record in zip(messages, records, strict=True):
        result = outcome.records[record.record_id]
        event_id = result.event_id or _event_id_in(record.body)
        receives = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
        letters.append(
            DeadLetter(
                message_id=record.record_id,
                school_id=record.school_id,
                event_id=event_id,
                receives=max(0, receives - 1),  # this listing's own receive is not counted
                status=str(result.status),
                reason=result.reason,
                detail=result.detail,
            )
        )
    return letters


def _event_id_in(body: str) -> str | None:
    """The event id of a body the processor could not read (a malformed one may still name it)."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    event_id = document.get("event_id") if isinstance(document, dict) else None
    return event_id if isinstance(event_id, str) else None


def _processor_for(target: Target) -> Any:
    """The grade processor as the Lambda builds it: it assumes the batch role once per batch of
    messages, narrowed to their schools, so the operator needs sts:AssumeRole on it (the dry run
    writes nothing)."""
    from luca_ingest.bootstrap import build
    from luca_ingest.config import IngestSettings

    settings = IngestSettings(
        table_name=target.resources.table_name,
        aws_region=target.region,
        aws_endpoint_url=target.endpoint_url,
        batch_role_arn=_required_batch_role(target),
    )
    return build(settings).processor


def _required_batch_role(target: Target) -> str:
    if not target.resources.batch_role_arn:
        raise TargetUnavailable(
            f"stage {target.stage!r} publishes no batch role: redeploy it (LucaOperations) to run the dry run"
        )
    return target.resources.batch_role_arn


def _sqs(target: Target) -> SQSClient:
    client: SQSClient = target.client("sqs")
    return client


def _queue_arn(sqs: SQSClient, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def list_command(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    target = resolve_or_report(args, err)
    if isinstance(target, int):
        return target
    resources = target.resources
    try:
        processor = _processor_for(target)
    except TargetUnavailable as exc:
        err.print(str(exc), style="red", markup=False)
        return exc.exit_code
    sqs = _sqs(target)
    messages = hold_messages(sqs, resources.events_dlq_url)
    try:
        letters = explain_dead_letters(
            messages,
            processor,
            queue_arn=_queue_arn(sqs, resources.events_queue_url),
            region=target.region,
        )
    finally:
        release_messages(sqs, resources.events_dlq_url, messages)
    if args.json:
        for letter in letters:
            print(json.dumps(letter.as_dict(), ensure_ascii=False))
        return 0
    if not letters:
        out.print("the DLQ is empty", highlight=False)
        return 0
    table = Table(title=f"{len(letters)} dead-lettered events (still in the DLQ)")
    for column in ("message id", "school", "event id", "receives*", "why it fails"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        why = (
            f"{letter.reason}: {letter.detail}"
            if letter.status == "failed"
            else f"would succeed now ({letter.status}): redrive it"
        )
        table.add_row(
            letter.message_id, letter.school_id or "-", letter.event_id or "-", str(letter.receives), why
        )
    out.print(table)
    out.print("* SQS counts every receive: earlier `dlq list` runs add one each.", highlight=False)
    return 0


@dataclass
class RedriveResult:
    moved: list[str] = field(default_factory=list)  # DLQ message ids now back on the queue
    failed: list[str] = field(default_factory=list)  # not sent (still in the DLQ)
    missing: list[str] = field(default_factory=list)  # asked for, not in the DLQ

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing


def redrive(
    sqs: SQSClient,
    *,
    dlq_url: str,
    queue_url: str,
    message_ids: Collection[str] | None = None,
    on_progress: Callable[[int], None] = lambda _moved: None,
) -> RedriveResult:
    """Move dead letters (all, or ``message_ids``) back to the queue: body and attributes as they are.

    Each message is deleted from the DLQ only after SendMessageBatch accepted it, so a failure
    leaves it where it was, never lost and never in both queues for good.
    """
    result = RedriveResult()
    wanted = set(message_ids) if message_ids is not None else None
    held: list[dict[str, Any]] = []  # everything received: what is not moved is released at the end
    seen: set[str] = set()
    try:
        while wanted is None or wanted - seen:
            batch = [m for m in hold_messages(sqs, dlq_url, limit=SQS_BATCH) if m["MessageId"] not in seen]
            if not batch:
                break
            held.extend(batch)
            seen.update(message["MessageId"] for message in batch)
            chosen = [m for m in batch if wanted is None or m["MessageId"] in wanted]
            if chosen:
                moved = _move(sqs, chosen, dlq_url=dlq_url, queue_url=queue_url, failed=result.failed)
                result.moved.extend(moved)
                on_progress(len(moved))
    finally:
        moved_ids = set(result.moved)
        release_messages(sqs, dlq_url, [m for m in held if m["MessageId"] not in moved_ids])
    if wanted is not None:
        result.missing = sorted(wanted - seen)
    return result


def _move(
    sqs: SQSClient,
    messages: Sequence[Mapping[str, Any]],
    *,
    dlq_url: str,
    queue_url: str,
    failed: list[str],
) -> list[str]:
    entries: list[Any] = [
        {
            "Id": str(n),
            "MessageBody": message["Body"],
            "MessageAttributes": {
                name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
        }
        for n, message in enumerate(messages)
    ]
    sent = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    accepted = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
    failed.extend(messages[int(entry["Id"])]["MessageId"] for entry in sent.get("Failed", []))
    if not accepted:
        return []
    deleted = sqs.delete_message_batch(
        QueueUrl=dlq_url,
        Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(accepted)],
    )
    # A copy that was sent but could not be deleted would be processed twice: harmless (the event id
    # makes the second a duplicate), and reported so the operator knows the DLQ still holds it.
    for entry in deleted.get("Failed", []):
        logging.getLogger("luca.dlq").warning(
            "sent back but not deleted from the DLQ",
            extra={"message_id": accepted[int(entry["Id"])]["MessageId"]},
        )
    return [accepted[int(entry["Id"])]["MessageId"] for entry in deleted.get("Successful", [])]


def redrive_command(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    target = resolve_or_report(args, err)
    if isinstance(target, int):
        return target
    resources = target.resources
    sqs = _sqs(target)
    if args.all:
        depth = sqs.get_queue_attributes(
            QueueUrl=resources.events_dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        total = int(depth.get("ApproximateNumberOfMessages", "0"))
    else:
        total = len(set(args.message_ids))
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("redriving", total=total or None)
        result = redrive(
            sqs,
            dlq_url=resources.events_dlq_url,
            queue_url=resources.events_queue_url,
            message_ids=None if args.all else args.message_ids,
            on_progress=lambda moved: progress.advance(task, moved),
        )
    out.print(
        f"moved {len(result.moved)} back to the events queue; failed {len(result.failed)}; "
        f"not found {len(result.missing)}",
        highlight=False,
    )
    for message_id in result.missing:
        err.print(f"not in the DLQ: {message_id}", style="yellow", markup=False)
    for message_id in result.failed:
        err.print(f"not sent (still in the DLQ): {message_id}", style="red", markup=False)
    return 0 if result.ok else 1
