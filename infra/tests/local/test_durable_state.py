"""The emulator's snapshot: what a restart must get back (items, queues with their receive counts, the
user pool with its id and signing key, the KMS key, SSM), written atomically, and the fixes applied on
restore (the stream goes on after its last record; a running execution is failed, not left running).

The whole platform restarted (clean stop, hard kill, ``--fresh``) is in tests/e2e/test_durable_state.py.
"""

from __future__ import annotations

import pickle
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from luca_infra.local import durable_state
from luca_infra.local.durable_state import DurableState, SnapshotError
from luca_infra.local.emulator import REGION, Emulator
from luca_testing.polling import eventually


def client(emulator: Emulator, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=emulator.url)  # type: ignore[call-overload]


def test_a_snapshot_brings_back_what_the_emulator_held(emulator: Emulator, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    dynamodb, sqs, cognito = (
        client(emulator, "dynamodb"),
        client(emulator, "sqs"),
        client(emulator, "cognito-idp"),
    )
    kms, ssm = client(emulator, "kms"), client(emulator, "ssm")
    table = f"durable-{suffix}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "grade-1"}, "score": {"N": "6.5"}})
    queue = sqs.create_queue(QueueName=f"durable-{suffix}")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="received once")
    sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0, AttributeNames=["All"])
    sqs.send_message(QueueUrl=queue, MessageBody="never received")
    pool = cognito.create_user_pool(PoolName=f"durable-{suffix}")["UserPool"]["Id"]
    cognito.admin_create_user(UserPoolId=pool, Username="teacher", MessageAction="SUPPRESS")
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public_key = kms.get_public_key(KeyId=key)["PublicKey"]
    ssm.put_parameter(Name=f"/durable/{suffix}", Value="kept", Type="String")
    s3 = client(emulator, "s3")
    bucket = f"durable-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="lake/part-1.parquet", Body=b"rows")
    state = DurableState(tmp_path)
    state.save()

    # What a new process would not have: the resources gone.
    dynamodb.delete_table(TableName=table)
    sqs.delete_queue(QueueUrl=queue)
    cognito.delete_user_pool(UserPoolId=pool)
    ssm.delete_parameter(Name=f"/durable/{suffix}")
    s3.delete_object(Bucket=bucket, Key="lake/part-1.parquet")
    s3.delete_bucket(Bucket=bucket)
    assert state.restore()

    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "grade-1"}})["Item"]["score"] == {"N": "6.5"}
    messages = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    counts = {m["Body"]: m["Attributes"]["ApproximateReceiveCount"] for m in messages}
    assert counts == {"received once": "2", "never received": "1"}
    assert cognito.admin_get_user(UserPoolId=pool, Username="teacher")["Username"] == "teacher"
    assert kms.get_public_key(KeyId=key)["PublicKey"] == public_key
    signed = kms.sign(KeyId=key, Message=b"m", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    assert kms.verify(
        KeyId=key, Message=b"m", Signature=signed, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256"
    )["SignatureValid"]
    assert ssm.get_parameter(Name=f"/durable/{suffix}")["Parameter"]["Value"] == "kept"
    # Provisioning creates the bucket again on start: in us-east-1 that keeps what it holds.
    s3.create_bucket(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="lake/part-1.parquet")["Body"].read() == b"rows"


def test_a_background_snapshot_is_one_moment_while_the_emulator_goes_on_serving(
    emulator: Emulator, tmp_path: Path
) -> None:
    dynamodb = client(emulator, "dynamodb")
    table = f"durable-bg-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    written: list[int] = []
    stop = threading.Event()

    def writer() -> None:  # a teacher recording grades while the snapshot is taken
        n = 0
        while not stop.is_set():
            dynamodb.put_item(TableName=table, Item={"pk": {"S": f"grade-{n:05d}"}})
            written.append(n)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        eventually(lambda: len(written) >= 20 or None, timeout=30, interval=0.01, what="20 grades written")
        before = len(written)
        state = DurableState(tmp_path)
        state.save_in_background()
        after = len(written)
    finally:
        stop.set()
        thread.join()
    assert state.last_pause_seconds is not None
    assert state.last_save_seconds is not None
    assert state.last_pause_seconds <= state.last_save_seconds
    assert not list(tmp_path.glob("*.tmp")), "the forked copy leaves no scratch file"

    dynamodb.delete_table(TableName=table)
    assert state.restore()
    kept = sorted(
        int(item["pk"]["S"].removeprefix("grade-"))
        for item in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    )
    # One moment: every grade written before it and a gapless prefix of those written during it.
    assert before <= len(kept) <= after + 1
    assert kept == list(range(len(kept)))


def test_a_failed_background_snapshot_keeps_the_last_good_one(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = DurableState(tmp_path)
    state.save()
    good = state.path.read_bytes()

    def refuse(value: Any) -> bytes:
        raise pickle.PicklingError("something moto holds cannot be pickled")

    monkeypatch.setattr(durable_state, "_dump_objects", refuse)  # the forked copy inherits it
    with pytest.raises(SnapshotError, match="snapshot process failed"):
        state.save_in_background()
    assert state.path.read_bytes() == good
    assert not list(tmp_path.glob("*.tmp"))


def test_the_stream_goes_on_after_its_last_record(emulator: Emulator, tmp_path: Path) -> None:
    dynamodb, streams = client(emulator, "dynamodb"), client(emulator, "dynamodbstreams")
    table = f"durable-stream-{uuid.uuid4().hex[:8]}"
    arn = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def from_the_start() -> list[dict[str, Any]]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return list(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])

    dynamodb.put_item(TableName=table, Item={"pk": {"S": "before"}})
    before = from_the_start()
    state = DurableState(tmp_path)
    state.save()
    state.restore()
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "after"}})

    records = from_the_start()

    # A reader from the start (the lake's poller in a new process) does not get "before" twice.
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["after"]
    assert int(records[0]["dynamodb"]["SequenceNumber"]) > int(before[-1]["dynamodb"]["SequenceNumber"])


def test_a_running_execution_is_failed_on_restore() -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus

    running = SimpleNamespace(exec_status=ExecutionStatus.RUNNING, exec_worker=object(), stop_date=None)
    done = SimpleNamespace(exec_status=ExecutionStatus.SUCCEEDED, stop_date="then")

    durable_state._fail_if_running(running)
    durable_state._fail_if_running(done)

    assert running.exec_status == ExecutionStatus.FAILED
    assert running.error == "Local.Restarted"
    assert running.exec_worker is None
    assert running.stop_date is not None
    assert done.exec_status == ExecutionStatus.SUCCEEDED


class Holder:
    """Something a weak reference can point at (a moto model, in the emulator)."""


def test_mappings_pickle_refuses_are_pickled() -> None:
    import threading
    import weakref

    tags: defaultdict[str, Any] = defaultdict(lambda: defaultdict(dict))
    tags["arn"]["Name"]["k"] = "v"
    holder = Holder()
    weak = weakref.WeakValueDictionary({"h": holder})
    data = durable_state._dump_objects([tags, weak, holder, threading.RLock()])

    loaded_tags, loaded_weak, loaded_holder, lock = pickle.loads(data)  # noqa: S301 - made above

    assert loaded_tags["arn"]["Name"] == {"k": "v"}
    assert loaded_tags["new"]["x"] == {}  # the factory still makes the nested mapping
    assert loaded_weak["h"] is loaded_holder
    assert lock.acquire(blocking=False)


def test_a_missing_snapshot_restores_nothing_and_a_broken_one_says_how_to_start_fresh(tmp_path: Path) -> None:
    state = DurableState(tmp_path)
    assert not state.restore()

    state.path.write_bytes(b"not a snapshot")

    with pytest.raises(SnapshotError, match="--fresh"):
        state.restore()
    state.discard()
    assert not state.exists
