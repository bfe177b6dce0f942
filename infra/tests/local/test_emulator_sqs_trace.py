"""The emulator keeps a batch entry's ``AWSTraceHeader`` (SQS does; moto alone drops it)."""

from __future__ import annotations

import boto3
from moto import mock_aws

from luca_infra.local import emulator_fixes

TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _send_batch_and_receive() -> list[dict[str, object]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[
                {
                    "Id": "traced",
                    "MessageBody": "{}",
                    "MessageSystemAttributes": {
                        "AWSTraceHeader": {"DataType": "String", "StringValue": TRACE_HEADER}
                    },
                },
                {"Id": "untraced", "MessageBody": "{}"},
            ],
        )
        return sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        )["Messages"]


def test_a_batch_entry_keeps_its_trace_header_and_the_others_have_none() -> None:
    # GIVEN the emulator's fixes in force
    assert "batch-system-attributes" in emulator_fixes.apply()

    # WHEN a batch with one traced entry is sent and received
    messages = _send_batch_and_receive()

    # THEN only the traced one carries the header, exactly as sent
    headers = sorted(str(m["Attributes"].get("AWSTraceHeader")) for m in messages)  # type: ignore[union-attr]
    assert headers == sorted([TRACE_HEADER, "None"])
