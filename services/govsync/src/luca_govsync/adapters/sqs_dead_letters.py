"""The sync's DLQ on SQS: read every message without consuming it, delete the redriven ones.

SQS has no "peek": a message is received (hidden for ``HOLD_SECONDS``), then made visible again at
once. A queue another reader holds at the same moment shows fewer messages; listing is an
operator's look, and a redrive names the messages it read.
"""

from __future__ import annotations

from typing import Any

SQS_BATCH = 10
HOLD_SECONDS = 20
MAX_MESSAGES = 1000  # a listing's bound: a DLQ that long is an incident, not a list
MAX_ROUNDS = 100


class SqsDeadLetterQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs, self._url = client, queue_url

    def messages(self) -> list[tuple[str, str]]:
        found: dict[str, str] = {}
        for _ in range(MAX_ROUNDS):
            got = self._receive()
            if not got:
                break
            for message in got:
                found[message["MessageId"]] = message["Body"]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(got)
                ],
            )
            if len(found) >= MAX_MESSAGES:
                break
        return list(found.items())

    def remove(self, message_ids: set[str]) -> int:
        removed = 0
        for _ in range(MAX_ROUNDS):
            got = self._receive()
            if not got:
                break
            mine = [m for m in got if m["MessageId"] in message_ids]
            for message in mine:
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
                removed += 1
            others = [m for m in got if m["MessageId"] not in message_ids]
            if others:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self._url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                        for i, m in enumerate(others)
                    ],
                )
            if not mine or removed >= len(message_ids):
                break
        return removed

    def _receive(self) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=SQS_BATCH,
            VisibilityTimeout=HOLD_SECONDS,
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))
