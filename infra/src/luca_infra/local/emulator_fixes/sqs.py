"""Local-only fixes to moto's SQS for its hot paths. Never part of anything deployed.

**fast-sqs-clock: SQS reads the clock through ``datetime`` for every message it looks at.** Whether
a message is visible or delayed is decided with ``moto.sqs.models.unix_time_millis``, which builds
two ``datetime`` objects per call, and SQS scans the whole queue with it: ``queue.messages`` (every
receive, every long-poll wake-up) and the three ``ApproximateNumberOf*`` counts that every send
computes. The fix reads "now" with ``time.time()`` (the same value, to the microsecond, that the
``datetime`` arithmetic gives); a call with an explicit datetime still goes to moto's function.

**direct-sqs-retention-check: every received message re-lists the queue's attributes.**
ReceiveMessage checks each message's retention period through ``get_queue_attributes``, which
computes the full attribute listing three times, and with it the three counts that each scan the
whole queue: for a receive of 10 messages, 90 passes over the queue. The fix reads the queue's
``message_retention_period`` directly and compares it with the same clock, with moto's own
comparison.

Measured with a throwaway script against the emulator over HTTP with boto3 (moto 5.2.5, 2 busy
cores): 5,000 messages of 300 bytes sent in batches of 10, then, at that depth, 50 single sends and
500 messages received 10 at a time with all attributes:

| fixes in force                                       | send, filling 0 → 5,000 | send at depth 5,000 | receive at depth 5,000 |
|------------------------------------------------------|------------------------:|--------------------:|-----------------------:|
| none (moto as installed)                             | 8 msg/s                 | 4.6 msg/s           | 1.6 msg/s              |
| the clock                                            | 175-216 msg/s           | 50-82 msg/s         | 38 msg/s               |
| the clock and the retention check                    | 228 msg/s               | 48 msg/s            | 405 msg/s              |
| all (``cached-backend-lookup`` also helps each call) | 281 msg/s               | 88 msg/s            | 666 msg/s              |

Sends stay linear in the queue's depth (each still computes the queue's counts once); a recess
burst of 5,000 events therefore still queues in tens of seconds, not in the ten minutes it took.

**batch-system-attributes: SendMessageBatch drops each entry's ``MessageSystemAttributes``.** moto
keeps ``AWSTraceHeader`` for SendMessage but its batch call never passes it on, so the X-Ray trace
context the edge sets on every event (as API Gateway with tracing does in AWS) is lost at the queue.
This fix is a correctness fix, not a speed one: after moto stores the batch, each message gets its
entry's system attributes, as SQS keeps them. It is where moto differs from AWS, and the scenario
pins it (an entry with ``AWSTraceHeader`` comes back with it).

The scenario's SQS part masks message ids, receipt handles and timestamps when it compares the
runs with and without the fixes: they differ from run to run anyway.
"""

from __future__ import annotations

import functools
import time
from typing import Any


def fast_sqs_clock() -> None:
    from moto.core import utils
    from moto.sqs import models

    original = models.unix_time_millis
    if getattr(original, "__luca_fix__", False):
        return
    if original is not utils.unix_time_millis:
        raise AttributeError("moto.sqs.models no longer takes its clock from moto.core.utils")

    def unix_time_millis(dt: Any = None) -> float:
        # moto's own arithmetic for a given datetime; "now" straight from the system clock.
        return original(dt) if dt is not None else time.time() * 1000.0

    unix_time_millis.__luca_fix__ = True  # type: ignore[attr-defined]
    models.unix_time_millis = unix_time_millis


def direct_sqs_retention_check() -> None:
    from moto.sqs import models

    backend_type = models.SQSBackend
    original = backend_type.is_message_valid_based_on_retention_period
    if getattr(original, "__luca_fix__", False):
        return
    if "MessageRetentionPeriod" not in models.Queue.BASE_ATTRIBUTES:  # listed as message_retention_period
        raise AttributeError("moto's SQS queue no longer keeps MessageRetentionPeriod as expected")

    @functools.wraps(original)
    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        # The queue's retention period read from the queue, not from a full attribute listing
        # (which counts every message of the queue three times, for each message received).
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > models.unix_time())

    is_message_valid_based_on_retention_period.__luca_fix__ = True  # type: ignore[attr-defined]
    backend_type.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


def batch_system_attributes() -> None:
    from moto.sqs import models

    backend_type = models.SQSBackend
    original = backend_type.send_message_batch
    if getattr(original, "__luca_fix__", False):
        return
    if not hasattr(models.Message(message_id="probe", body="", system_attributes={}), "system_attributes"):
        raise AttributeError("moto's SQS messages no longer keep system_attributes")

    @functools.wraps(original)
    def send_message_batch(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        messages, failed = original(self, queue_name, entries)
        by_id = {entry["Id"]: entry for entry in entries.values()}
        for message in messages:
            # moto tags each stored message with its entry's Id (``user_id``) for the response.
            system_attributes = by_id.get(getattr(message, "user_id", None), {}).get(
                "MessageSystemAttributes"
            )
            if system_attributes:
                message.system_attributes = system_attributes
        return messages, failed

    send_message_batch.__luca_fix__ = True  # type: ignore[attr-defined]
    backend_type.send_message_batch = send_message_batch  # type: ignore[method-assign]
