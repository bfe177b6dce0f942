"""A deterministic DynamoDB and SQS script against a fresh moto server, every response recorded.

Run as ``python emulator_scenario.py fixed`` (``emulator_fixes.apply()`` first, as the embedded
emulator does) or ``python emulator_scenario.py stock`` (moto as installed). It prints one JSON
document: the recorded steps (in sections), invariants the script checks itself, and which fixes
were in force. ``test_emulator_fixes.py`` runs both modes in separate processes (the fixes patch moto
for the whole process and cannot be undone) and compares the two documents.

A step records what a boto3 client sees: the parsed response, or the error's code, message and
modeled fields (``CancellationReasons``, ``Item``). Only what differs from one run to the next is
masked (timestamps, random ids, stream labels, iterators), never dropped; numbers keep their JSON
type, so ``2`` and ``2.0`` differ. Members of a set (SS, NS, BS) are sorted: sets have no order.
In the SQS section message ids become aliases in order of first appearance (so a message is still
recognisable from step to step), receipt handles and timestamps are masked, and the server's
address is taken out of queue URLs.

DynamoDB Streams steps also record the response as written on the wire (status, content type and
body text, with only ids, iterators, stream ARNs and labels masked): boto3 turns the epoch-seconds
timestamps into datetimes, so only the body shows whether one was written as ``1714979289``,
``1714979289.0`` or ``1714979289.123``. The stream's clock is pinned for that, in both runs: a
record is stamped from its sequence number, a stream at a fixed moment, so the bodies (and each
record's ``SizeBytes``, which counts its creation time) are the same from run to run, and the
records cycle through every form moto writes a timestamp in.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import logging
import os
import random
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from luca_grading.adapters import table_design as grading_td
from luca_platform.contracts import grades as grades_contract
from luca_platform.contracts import roster as roster_contract
from luca_platform.contracts import rules as rules_contract
from luca_platform.table import keys

REGION = "us-east-1"
TABLE = "grades"  # create_table_request's table; boto3 refuses names shorter than three characters
HASH_TABLE = "hashed"  # a table with a hash key only
MAX_PAGES = 40

VOLATILE_KEYS = frozenset(
    {
        "ResponseMetadata",
        "CreationDateTime",
        "CreationRequestDateTime",
        "ApproximateCreationDateTime",
        "LastUpdateToPayPerRequestDateTime",
        "LatestStreamLabel",
        "LatestStreamArn",
        "StreamLabel",
        "StreamArn",
        "ShardIterator",
        "NextShardIterator",
        "TableId",
        "eventID",
    }
)
SET_TYPES = frozenset({"SS", "NS", "BS"})
# What differs from run to run in a DynamoDB Streams body as written, whatever its spacing.
WIRE_VOLATILE = re.compile(
    r'("(?:eventID|NextShardIterator|ShardIterator|StreamArn|StreamLabel)":\s*)"(?:[^"\\]|\\.)*"'
)
BINARY_ATTRIBUTE = re.compile(r'\{"BS?":\s*[\["]')  # a B or BS attribute value in a body
# The stream clock (see the module docstring): whole seconds (moto writes an int), under a
# millisecond (a float ending in .0), and milliseconds (moto truncates the microseconds).
STREAM_EPOCH = datetime.datetime(2024, 5, 6, 7, 8, 9)
STREAM_MICROSECONDS = (0, 999, 1000, 123456, 500000, 999999, 7000, 250, 654321, 10000)


def normalize(value: Any) -> Any:
    """A JSON-ready copy: volatile values masked, set members sorted, bytes as base64."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((kind, members),) = value.items()
            if kind in SET_TYPES and isinstance(members, list):
                return {kind: sorted((normalize(m) for m in members), key=json.dumps)}
        return {k: "<volatile>" if k in VOLATILE_KEYS else normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return {"<bytes>": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime.datetime):
        return "<datetime>"
    return value


class Recorder:
    """Calls the emulator through boto3 and keeps every outcome, section by section."""

    def __init__(self, endpoint: str) -> None:
        config = Config(retries={"max_attempts": 1, "mode": "standard"})
        self.dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint, config=config)
        self.streams = boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=endpoint, config=config
        )
        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint, config=config)
        self.endpoint = endpoint
        self.shape: Any = normalize
        self.sections: dict[str, list[dict[str, Any]]] = {}
        self.section = "main"
        self.checks: dict[str, bool] = {}
        self.wire: dict[str, Any] | None = None
        self.stream_calls: Counter[str] = Counter()
        self.binary_pages = 0  # GetRecords pages holding binary values (moto's serializer writes those)
        self.streams.meta.events.register("before-parse.dynamodb-streams", self.capture)

    def capture(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        """Keep a DynamoDB Streams response as written: status, content type, body text."""
        text = response_dict["body"].decode("utf-8")
        operation = operation_model.name
        self.stream_calls[operation] += 1
        if operation == "GetRecords" and BINARY_ATTRIBUTE.search(text):
            self.binary_pages += 1
        self.wire = {
            "status": response_dict["status_code"],
            "content type": response_dict["headers"].get("Content-Type"),
            "body": WIRE_VOLATILE.sub(r'\1"<volatile>"', text),
        }

    def call(self, name: str, operation: str, client: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Run one operation and record it; returns the parsed response ({} after an error)."""
        step: dict[str, Any] = {"step": name, "operation": operation}
        result: dict[str, Any] = {}
        self.wire = None
        try:
            result = getattr(client or self.dynamodb, operation)(**kwargs)
            step["response"] = self.shape(result)
        except ClientError as error:
            step["error"] = self.shape(error.response)
        if self.wire is not None:
            step["wire"] = self.wire
        self.sections.setdefault(self.section, []).append(step)
        return result

    def paginate(self, name: str, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Follow LastEvaluatedKey, one step per page; returns every item seen."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        for page in range(MAX_PAGES):
            arguments = dict(kwargs) if start is None else {**kwargs, "ExclusiveStartKey": start}
            response = self.call(f"{name} page {page}", operation, **arguments)
            items.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if start is None:
                return items
        self.checks[f"{name}: pagination ends"] = False
        return items

    def check(self, name: str, holds: bool) -> None:
        self.checks[name] = bool(holds)


# --- data -------------------------------------------------------------------------------------------


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: str) -> dict[str, str]:
    return {"N": value}


SCHOOL = "s1"
OTHER_SCHOOL = "s2"
SCORES = ("6.5", "7", "4.25", "10", "-0.5", "5.0", "1E1", "3.333333333333333333333333333333333333")
# Numbers as a client may write them; moto keeps the text it was given.
NUMBER_FORMATS = ("1E1", "1e2", "010", "+5", "1.50", "-0", "0.0", "1.0E-3", "12345678901234567890.5")


def student_item(school: str, student: str, course: str, photo: bytes | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": s(roster_contract.student_pk(school, student)),
        "SK": s(roster_contract.STUDENT_SK),
        "GSI1PK": s(roster_contract.course_roster_pk(school, course)),
        "GSI1SK": s(f"STUDENT#{student}"),
        "name": s(f"Student {student.upper()}"),
        "tags": {"SS": ["b-tag", "a-tag", f"{student}-tag"]},
        "born": n("2011"),
        "active": {"BOOL": True},
        "guardian": {"NULL": True},
    }
    if photo is not None:
        item["photo"] = {"B": photo}
        item["thumbs"] = {"BS": [b"\x01\x02", b"\x00\xff"]}
    return item


def evaluation_item(
    student: str, course: str, term: str, subject: str, ident: str, score: str, rich: bool = True
) -> dict[str, Any]:
    school = OTHER_SCHOOL if student == "st9" else SCHOOL
    item: dict[str, Any] = {
        "PK": s(roster_contract.student_pk(school, student)),
        "SK": s(f"EVAL#{term}#{subject}#2024-0{len(ident) % 9 + 1}-01#{ident}"),
        "GSI1PK": s(grading_td.course_term_pk(school, course, term)),
        "GSI1SK": s(f"SUBJECT#{subject}#STUDENT#{student}#{ident}"),
        "GSI2PK": s(grades_contract.school_term_pk(school, term)),
        "GSI2SK": s(f"STUDENT#{student}#{ident}"),
        "score": n(score),
        "details": {
            "M": {
                "level": s("basic" if score.startswith("-") else "advanced"),
                "rubric": {"M": {"clarity": n("3"), "depth": n("4.5")}},
            }
        },
        "history": {"L": [n("1"), n("2")]},
    }
    if rich:  # heavier shapes on some items only (moto's own serializer is slow with them)
        item["details"]["M"]["comments"] = {"L": [s("first"), n("2"), {"BOOL": False}, {"NULL": True}]}
        item["codes"] = {"NS": ["3", "1", "2.5"]}
        item["weight"] = n("10")
    return item


def table_items() -> list[dict[str, Any]]:
    items = [
        student_item(SCHOOL, "st1", "c1", photo=bytes(range(0, 256, 7))),
        student_item(SCHOOL, "st2", "c1"),
        student_item(SCHOOL, "st3", "c2"),
        student_item(SCHOOL, "st4", "c1"),
        student_item(OTHER_SCHOOL, "st9", "c1"),
    ]
    counter = 0
    for student, course in (("st1", "c1"), ("st2", "c1"), ("st3", "c2")):
        for term in ("T1", "T2"):
            for subject in ("math", "art"):
                counter += 1
                score = SCORES[counter % len(SCORES)]
                items.append(
                    evaluation_item(
                        student, course, term, subject, f"e{counter:03d}", score, counter % 4 == 1
                    )
                )
    items.append(evaluation_item("st9", "c1", "T1", "math", "e900", "9"))
    # The same index sort key in the same index partition: the table's keys break the tie.
    for student in ("st4", "st2", "st3"):
        tie = evaluation_item(student, "c1", "T1", "tie", "tie", "8", rich=False)
        tie["GSI1SK"] = tie["GSI2SK"] = s("TIE")
        items.append(tie)
    # Notes and catalog entries carry no index keys; half an index key keeps an item off the index.
    for index in range(3):
        note = {
            "PK": s(roster_contract.student_pk(SCHOOL, "st1")),
            "SK": s(f"NOTE#2024-0{index + 1}-01#n{index}"),
        }
        items.append({**note, "text": s(f"note {index}"), "mood": n(str(index - 1))})
    for subject in ("math", "art", "hist"):
        items.append(
            {
                "PK": s(roster_contract.catalog_pk(SCHOOL)),
                "SK": s(roster_contract.subject_sk(subject)),
                "title": s(subject),
            }
        )
    no_index_sort_key = evaluation_item("st2", "c1", "T1", "math", "half1", "2", rich=False)
    del no_index_sort_key["GSI1SK"], no_index_sort_key["GSI2PK"]
    no_index_partition_key = evaluation_item("st3", "c2", "T2", "art", "half2", "3", rich=False)
    del no_index_partition_key["GSI1PK"], no_index_partition_key["GSI2SK"]
    items += [no_index_sort_key, no_index_partition_key]
    for sort_key in ("10", "9", "100", "1", "09"):  # string order is not number order
        items.append(
            {"PK": s(rules_contract.rules_pk(SCHOOL)), "SK": s(sort_key), "rule": s(f"rule {sort_key}")}
        )
    items.append(
        {
            "PK": s(rules_contract.rules_pk(SCHOOL)),
            "SK": s("formats"),
            **{f"n{i}": n(text) for i, text in enumerate(NUMBER_FORMATS)},
            "ns": {"NS": ["1E1", "010", "2.50"]},
            "nested": {"M": {"x": n("1E1"), "l": {"L": [n("010"), n("+5")]}}},
        }
    )
    return items


def hash_table_request() -> dict[str, Any]:
    def index(name: str, keys: list[tuple[str, str]], projection: dict[str, Any]) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [{"AttributeName": a, "KeyType": k} for a, k in keys],
            "Projection": projection,
        }

    by_group = [("grp", "HASH"), ("rank", "RANGE")]
    return {
        "TableName": HASH_TABLE,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "grp", "AttributeType": "S"},
            {"AttributeName": "rank", "AttributeType": "N"},
        ],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            index("byGroup", by_group, {"ProjectionType": "ALL"}),
            index("byGroupOnly", [("grp", "HASH")], {"ProjectionType": "ALL"}),
            index("byGroupKeys", by_group, {"ProjectionType": "KEYS_ONLY"}),
            index("byGroupSome", by_group, {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["payload"]}),
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


RANKS = ("10", "9", "-1.5", "1E1", "100", "0", "2.25", "-20", "9.5", "3")


def hash_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for index in range(11):
        item: dict[str, Any] = {"id": s(f"h{index:02d}"), "payload": s(f"p{index}"), "count": n(str(index))}
        if index % 7 != 6:
            item["grp"] = s("g1" if index % 2 else "g2")
        if index % 5 != 4:
            item["rank"] = n(RANKS[index % len(RANKS)])
        if index == 3:
            item["blob"] = {"B": b"\x00binary\xff"}
        items.append(item)
    return items


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"]} if "id" in item else {"PK": item["PK"], "SK": item["SK"]}


# --- reading back what a client can see ---------------------------------------------------------------


def stream_of(rec: Recorder, name: str, table: str, iterator_type: str = "TRIM_HORIZON") -> str:
    """A fresh shard iterator on the table's stream."""
    arn = rec.call(f"{name}: list streams", "list_streams", client=rec.streams, TableName=table)["Streams"][
        0
    ]["StreamArn"]
    described = rec.call(f"{name}: describe stream", "describe_stream", client=rec.streams, StreamArn=arn)
    shard = described["StreamDescription"]["Shards"][0]["ShardId"]
    return rec.call(
        f"{name}: shard iterator",
        "get_shard_iterator",
        client=rec.streams,
        StreamArn=arn,
        ShardId=shard,
        ShardIteratorType=iterator_type,
    )["ShardIterator"]


def read_stream(rec: Recorder, name: str, table: str) -> list[Any]:
    """Every record of the table's stream, from TRIM_HORIZON with a fresh iterator."""
    iterator = stream_of(rec, name, table)
    response = rec.call(f"{name}: records", "get_records", client=rec.streams, ShardIterator=iterator)
    return normalize(response.get("Records", []))


def state(rec: Recorder, name: str, keys: list[dict[str, Any]], full: bool = False) -> dict[str, Any]:
    """The named items (consistent reads); with ``full``, both tables' scans and streams too."""
    seen: dict[str, Any] = {}
    if keys:
        request: dict[str, Any] = {}
        for key in keys:
            table = HASH_TABLE if "id" in key else TABLE
            request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
        found = rec.call(f"{name}: batch get", "batch_get_item", RequestItems=request).get("Responses", {})
        seen["items"] = {table: sorted(normalize(found.get(table, [])), key=json.dumps) for table in request}
    if full:
        seen["scan t"] = normalize(rec.call(f"{name}: scan t", "scan", TableName=TABLE).get("Items"))
        seen["scan h"] = normalize(rec.call(f"{name}: scan h", "scan", TableName=HASH_TABLE).get("Items"))
        seen["stream t"] = read_stream(rec, f"{name}: stream t", TABLE)
        seen["stream h"] = read_stream(rec, f"{name}: stream h", HASH_TABLE)
    return seen


# --- the script -----------------------------------------------------------------------------------------


def setup(rec: Recorder) -> list[dict[str, Any]]:
    rec.call("create t", "create_table", **keys.create_table_request(TABLE))
    rec.call("create h", "create_table", **hash_table_request())
    rec.call("ttl t", "update_time_to_live", **keys.time_to_live_request(TABLE))
    rec.call("list tables", "list_tables")
    items = table_items()
    random.Random(7).shuffle(items)  # insertion order is not key order
    for index, item in enumerate(items[:5]):
        rec.call(f"put t {index}", "put_item", TableName=TABLE, Item=item, ReturnConsumedCapacity="TOTAL")
    rest = items[5:]
    for start in range(0, len(rest), 25):
        batch = [{"PutRequest": {"Item": item}} for item in rest[start : start + 25]]
        rec.call(f"batch write t {start}", "batch_write_item", RequestItems={TABLE: batch})
    hashed = hash_items()
    random.Random(11).shuffle(hashed)
    for item in hashed:
        rec.call(f"put h {item['id']['S']}", "put_item", TableName=HASH_TABLE, Item=item)
    return items


def reads(rec: Recorder, items: list[dict[str, Any]]) -> None:
    st1 = roster_contract.student_pk(SCHOOL, "st1")
    st1_key = {"PK": s(st1), "SK": s(roster_contract.STUDENT_SK)}
    formats_key = {"PK": s(rules_contract.rules_pk(SCHOOL)), "SK": s("formats")}
    evaluation = key_of(next(item for item in items if item["SK"]["S"].startswith("EVAL#T2#art")))
    rec.call("get binary item", "get_item", TableName=TABLE, Key=st1_key)
    rec.call("get binary item consistent", "get_item", TableName=TABLE, Key=st1_key, ConsistentRead=True)
    rec.call(
        "get projected names",
        "get_item",
        TableName=TABLE,
        Key=st1_key,
        ProjectionExpression="#n, tags, photo, guardian, absent",
        ExpressionAttributeNames={"#n": "name"},
    )
    rec.call("get number formats", "get_item", TableName=TABLE, Key=formats_key)
    rec.call(
        "get number formats projected",
        "get_item",
        TableName=TABLE,
        Key=formats_key,
        ProjectionExpression=", ".join([f"n{i}" for i in range(len(NUMBER_FORMATS))] + ["ns", "nested"]),
    )
    rec.call(
        "get number formats projected nested",
        "get_item",
        TableName=TABLE,
        Key=formats_key,
        ProjectionExpression="n0, nested.x, nested.l[0]",
    )
    rec.call("get plain", "get_item", TableName=TABLE, Key=evaluation, ReturnConsumedCapacity="TOTAL")
    rec.call("get missing", "get_item", TableName=TABLE, Key={"PK": s(st1), "SK": s("NOPE")})
    rec.call("get in missing table", "get_item", TableName="absent", Key=st1_key)
    rec.call("get h binary", "get_item", TableName=HASH_TABLE, Key={"id": s("h03")})
    rec.call("get h", "get_item", TableName=HASH_TABLE, Key={"id": s("h05")})
    rec.call("get h missing", "get_item", TableName=HASH_TABLE, Key={"id": s("zz")})
    missing = {"PK": s(st1), "SK": s("NOPE")}
    rec.call(
        "batch get with binary",
        "batch_get_item",
        RequestItems={
            TABLE: {"Keys": [st1_key, evaluation, missing], "ConsistentRead": True},
            HASH_TABLE: {"Keys": [{"id": s("h03")}, {"id": s("h05")}, {"id": s("zz")}]},
        },
        ReturnConsumedCapacity="TOTAL",
    )
    rec.call(
        "batch get without binary",
        "batch_get_item",
        RequestItems={
            TABLE: {"Keys": [evaluation, missing, formats_key]},
            HASH_TABLE: {"Keys": [{"id": s("h05")}, {"id": s("h01")}]},
        },
    )
    rec.call(
        "batch get projected",
        "batch_get_item",
        RequestItems={
            TABLE: {
                "Keys": [evaluation, st1_key],
                "ProjectionExpression": "PK, details.rubric, history[1], photo",
            }
        },
    )
    rec.call(
        "batch get projected names",
        "batch_get_item",
        RequestItems={
            TABLE: {"Keys": [evaluation, formats_key], "ProjectionExpression": "SK, score, n0, n2"}
        },
    )


def base_queries(rec: Recorder) -> None:
    def query(name: str, pk: str, condition: str = "", values: Any = None, **kwargs: Any) -> None:
        rec.paginate(
            name,
            "query",
            TableName=TABLE,
            KeyConditionExpression="PK = :pk" + (f" AND {condition}" if condition else ""),
            ExpressionAttributeValues={":pk": s(pk), **(values or {})},
            **kwargs,
        )

    st1, st2 = roster_contract.student_pk(SCHOOL, "st1"), roster_contract.student_pk(SCHOOL, "st2")
    evals = {":p": s("EVAL#")}
    query("st1 all", st1)
    query("st1 evals T1", st1, "begins_with(SK, :p)", {":p": s("EVAL#T1#")})
    query("st2 between", st2, "SK BETWEEN :a AND :b", {":a": s("EVAL#T1#b"), ":b": s("EVAL#T2#b")})
    query("st2 from backwards", st2, "SK >= :a", {":a": s("EVAL#T2")}, ScanIndexForward=False)
    query("st1 backwards", st1, ScanIndexForward=False)
    query("st1 paged", st1, Limit=4)
    query("st1 paged backwards", st1, Limit=5, ScanIndexForward=False)
    query("st1 evals paged backwards", st1, "begins_with(SK, :p)", evals, Limit=2, ScanIndexForward=False)
    query(
        "st2 filtered paged",
        st2,
        "begins_with(SK, :p)",
        {**evals, ":min": n("5"), ":lvl": s("advanced")},
        FilterExpression="score >= :min AND details.#l = :lvl",
        ExpressionAttributeNames={"#l": "level"},
        Limit=2,
    )
    query(
        "st1 projected paths",
        st1,
        "begins_with(SK, :p)",
        evals,
        ProjectionExpression="SK, score, details.rubric.depth, history[0], #c",
        ExpressionAttributeNames={"#c": "codes"},
    )
    query(
        "st2 projected names",
        st2,
        "begins_with(SK, :p)",
        evals,
        ProjectionExpression="SK, score, codes, nope",
    )
    query("st1 count", st1, Select="COUNT")
    query("empty partition", roster_contract.student_pk(SCHOOL, "nobody"))
    query("no match in partition", st1, "begins_with(SK, :p)", {":p": s("ZZZ")})
    query("rules order", rules_contract.rules_pk(SCHOOL))
    query("rules paged backwards", rules_contract.rules_pk(SCHOOL), Limit=2, ScanIndexForward=False)
    query(
        "rules projected names",
        rules_contract.rules_pk(SCHOOL),
        ProjectionExpression="SK, n0, n1, n2, n3, ns, #r",
        ExpressionAttributeNames={"#r": "rule"},
    )
    query("catalog", roster_contract.catalog_pk(SCHOOL), "begins_with(SK, :p)", {":p": s("SUBJECT#")})
    query("other school", roster_contract.student_pk(OTHER_SCHOOL, "st9"))
    rec.call(
        "query wrong key type",
        "query",
        TableName=TABLE,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": n("1")},
    )
    rec.call(
        "query unknown index",
        "query",
        TableName=TABLE,
        IndexName="GSI9",
        KeyConditionExpression="GSI9PK = :pk",
        ExpressionAttributeValues={":pk": s("x")},
    )


def index_queries(rec: Recorder) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def query(name: str, index: str, pk: str, condition: str = "", values: Any = None, **kwargs: Any) -> None:
        found = rec.paginate(
            name,
            "query",
            TableName=TABLE,
            IndexName=index,
            KeyConditionExpression=f"{index}PK = :pk" + (f" AND {condition}" if condition else ""),
            ExpressionAttributeValues={":pk": s(pk), **(values or {})},
            **kwargs,
        )
        if "ProjectionExpression" not in kwargs:
            seen.extend((index, item) for item in found)

    for index, pk in (
        ("GSI1", grading_td.course_term_pk(SCHOOL, "c1", "T1")),
        ("GSI2", grades_contract.school_term_pk(SCHOOL, "T1")),
    ):
        query(f"{index} all", index, pk)
        query(f"{index} paged", index, pk, Limit=4)
        query(f"{index} paged backwards", index, pk, Limit=5, ScanIndexForward=False)
        query(
            f"{index} filtered paged",
            index,
            pk,
            values={":m": n("6")},
            FilterExpression="score > :m",
            Limit=4,
        )
        query(f"{index} count", index, pk, Select="COUNT")
        query(f"{index} projected names", index, pk, ProjectionExpression="PK, SK, score", Limit=5)
        query(f"{index} projected paths", index, pk, ProjectionExpression="SK, details.rubric.depth")
        query(f"{index} empty partition", index, pk + "X")
        query(f"{index} consumed", index, pk, ReturnConsumedCapacity="INDEXES")
    course_term = grading_td.course_term_pk(SCHOOL, "c1", "T1")
    query("GSI1 begins_with", "GSI1", course_term, "begins_with(GSI1SK, :p)", {":p": s("SUBJECT#math#")})
    query(
        "GSI1 between backwards paged",
        "GSI1",
        course_term,
        "GSI1SK BETWEEN :a AND :b",
        {":a": s("SUBJECT#art"), ":b": s("TIE")},
        ScanIndexForward=False,
        Limit=3,
    )
    query("GSI1 roster paged", "GSI1", roster_contract.course_roster_pk(SCHOOL, "c1"), Limit=1)
    query("GSI1 half keys partition", "GSI1", grading_td.course_term_pk(SCHOOL, "c2", "T2"))
    query("GSI2 T2 paged", "GSI2", grades_contract.school_term_pk(SCHOOL, "T2"), Limit=3)
    query("GSI2 other school", "GSI2", grades_contract.school_term_pk(OTHER_SCHOOL, "T1"))
    rec.check(
        "index results carry their index keys",
        all(f"{index}PK" in item and f"{index}SK" in item for index, item in seen),
    )
    rec.check("index queries returned items", len(seen) > 20)


def hash_table_queries(rec: Recorder) -> None:
    def query(
        name: str, pk: str, index: str | None = None, condition: str = "", values: Any = None, **kwargs: Any
    ) -> None:
        rec.paginate(
            name,
            "query",
            TableName=HASH_TABLE,
            KeyConditionExpression=("grp" if index else "id")
            + " = :pk"
            + (f" AND {condition}" if condition else ""),
            ExpressionAttributeValues={":pk": s(pk), **(values or {})},
            **({"IndexName": index} if index else {}),
            **kwargs,
        )

    rank: dict[str, Any] = {"ExpressionAttributeNames": {"#r": "rank"}}
    query("h by id", "h05")
    query("h by id binary", "h03")
    query("h by id missing", "zz")
    query("h by id count", "h05", Select="COUNT")
    query("h by id projected names", "h05", ProjectionExpression="payload, #r", **rank)
    query(
        "h by id filtered out",
        "h05",
        None,
        "",
        {":c": n("100")},
        FilterExpression="#c > :c",
        ExpressionAttributeNames={"#c": "count"},
    )
    for group in ("g1", "g2"):
        query(f"h byGroup {group}", group, "byGroup")
        query(f"h byGroup {group} paged", group, "byGroup", Limit=3)
        query(f"h byGroup {group} paged backwards", group, "byGroup", Limit=3, ScanIndexForward=False)
        query(f"h byGroupOnly {group} paged", group, "byGroupOnly", Limit=2)
    query("h byGroupOnly g1 backwards", "g1", "byGroupOnly", ScanIndexForward=False)
    query("h byGroupKeys g1", "g1", "byGroupKeys")
    query("h byGroupSome g1 paged", "g1", "byGroupSome", Limit=3)
    query("h byGroup range", "g1", "byGroup", "#r BETWEEN :a AND :b", {":a": n("-2"), ":b": n("10")}, **rank)
    query("h byGroup above paged", "g2", "byGroup", "#r > :a", {":a": n("2.25")}, Limit=1, **rank)
    query("h byGroup missing group", "g9", "byGroup")


def scans(rec: Recorder) -> None:
    rec.paginate("scan t", "scan", TableName=TABLE)
    rec.paginate("scan t paged", "scan", TableName=TABLE, Limit=20)
    rec.paginate(
        "scan t filtered paged",
        "scan",
        TableName=TABLE,
        FilterExpression="attribute_exists(score) AND score < :v",
        ExpressionAttributeValues={":v": n("6")},
        Limit=25,
    )
    rec.paginate("scan t projected", "scan", TableName=TABLE, ProjectionExpression="PK, SK, GSI1SK, n0")
    rec.call("scan t count", "scan", TableName=TABLE, Select="COUNT")
    for segment in range(2):
        rec.paginate(f"scan t segment {segment}", "scan", TableName=TABLE, Segment=segment, TotalSegments=2)
    rec.paginate("scan GSI1", "scan", TableName=TABLE, IndexName="GSI1")
    rec.paginate("scan GSI2 paged", "scan", TableName=TABLE, IndexName="GSI2", Limit=12)
    rec.paginate("scan h", "scan", TableName=HASH_TABLE)
    rec.paginate("scan h paged", "scan", TableName=HASH_TABLE, Limit=4)
    rec.paginate("scan h byGroup paged", "scan", TableName=HASH_TABLE, IndexName="byGroup", Limit=3)
    rec.paginate("scan h byGroupOnly", "scan", TableName=HASH_TABLE, IndexName="byGroupOnly")


def writes(rec: Recorder, items: list[dict[str, Any]]) -> None:
    st1 = {"PK": s(roster_contract.student_pk(SCHOOL, "st1")), "SK": s(roster_contract.STUDENT_SK)}
    evaluation = key_of(next(item for item in items if item["SK"]["S"].startswith("EVAL#T1#math")))

    def update(name: str, key: dict[str, Any], expression: str, values: Any, **kwargs: Any) -> None:
        table = HASH_TABLE if "id" in key else TABLE
        arguments = {"ExpressionAttributeValues": values} if values else {}
        rec.call(
            name, "update_item", TableName=table, Key=key, UpdateExpression=expression, **arguments, **kwargs
        )

    update("add number", evaluation, "ADD score :d", {":d": n("1.5")}, ReturnValues="UPDATED_NEW")
    update("add negative", evaluation, "ADD score :d", {":d": n("-20")}, ReturnValues="ALL_NEW")
    update("add new number", evaluation, "ADD attempts :one", {":one": n("1")}, ReturnValues="UPDATED_OLD")
    update(
        "list_append",
        evaluation,
        "SET history = list_append(history, :more)",
        {":more": {"L": [n("3"), s("x"), {"M": {"k": {"B": b"\x07"}}}]}},
        ReturnValues="UPDATED_NEW",
    )
    update(
        "list_append prepend",
        evaluation,
        "SET history = list_append(:first, history)",
        {":first": {"L": [n("0")]}},
        ReturnValues="ALL_OLD",
    )
    update(
        "list_append if_not_exists",
        evaluation,
        "SET fresh = list_append(if_not_exists(fresh, :empty), :one)",
        {":empty": {"L": []}, ":one": {"L": [n("1")]}},
        ReturnValues="UPDATED_NEW",
    )
    update(
        "set nested and remove",
        evaluation,
        "SET details.rubric.clarity = details.rubric.clarity + :one, details.extra = :m REMOVE codes",
        {":one": n("1"), ":m": {"M": {"a": {"SS": ["z", "y"]}}}},
        ReturnValues="ALL_NEW",
    )
    update(
        "add to string set",
        st1,
        "ADD tags :t",
        {":t": {"SS": ["c-tag", "a-tag"]}},
        ReturnValues="UPDATED_NEW",
    )
    update("delete from string set", st1, "DELETE tags :t", {":t": {"SS": ["b-tag"]}}, ReturnValues="ALL_NEW")
    update("set binary", st1, "SET photo = :p", {":p": {"B": b"\xfe\xed"}}, ReturnValues="UPDATED_OLD")
    update(
        "conditional update fails",
        st1,
        "SET born = :b",
        {":b": n("2012"), ":old": n("1999")},
        ConditionExpression="born = :old",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    upsert = {"PK": s(roster_contract.student_pk(SCHOOL, "st7")), "SK": s("NOTE#x")}
    update("upsert", upsert, "ADD visits :one", {":one": n("1")}, ReturnValues="ALL_NEW")
    update(
        "h add",
        {"id": s("h05")},
        "ADD #c :d",
        {":d": n("5")},
        ExpressionAttributeNames={"#c": "count"},
        ReturnValues="ALL_NEW",
        ReturnConsumedCapacity="TOTAL",
    )
    replacement = {**st1, "name": s("replaced"), "photo": {"B": b"\x00\x00"}}
    rec.call("put overwrite all_old", "put_item", TableName=TABLE, Item=replacement, ReturnValues="ALL_OLD")
    rec.call(
        "put conditional fails",
        "put_item",
        TableName=TABLE,
        Item={**st1, "name": s("nope")},
        ConditionExpression="attribute_not_exists(PK)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    note = {"PK": s(roster_contract.student_pk(SCHOOL, "st1")), "SK": s("NOTE#2024-02-01#n1")}
    rec.call("delete all_old", "delete_item", TableName=TABLE, Key=note, ReturnValues="ALL_OLD")
    rec.call("delete missing", "delete_item", TableName=TABLE, Key=note, ReturnValues="ALL_OLD")
    rec.call("delete h", "delete_item", TableName=HASH_TABLE, Key={"id": s("h10")}, ReturnValues="ALL_OLD")
    rec.call("get after writes", "get_item", TableName=TABLE, Key=evaluation)


def transactions(rec: Recorder, items: list[dict[str, Any]]) -> None:
    st = {name: roster_contract.student_pk(SCHOOL, name) for name in ("st1", "st2", "st3", "st8")}
    evals = [key_of(i) for i in items if i["SK"]["S"].startswith("EVAL#") and i["PK"]["S"] == st["st2"]]
    st1_student = {"PK": s(st["st1"]), "SK": s(roster_contract.STUDENT_SK)}
    st3_student = {"PK": s(st["st3"]), "SK": s(roster_contract.STUDENT_SK)}
    new_note = {"PK": s(st["st8"]), "SK": s("NOTE#new")}  # a partition that does not exist yet
    new_eval = evaluation_item("st2", "c1", "T2", "math", "tx1", "9.75")
    rec.call(
        "transaction succeeds",
        "transact_write_items",
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": new_eval,
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": evals[0],
                    "UpdateExpression": "ADD score :d SET history = list_append(history, :h)",
                    "ExpressionAttributeValues": {":d": n("2"), ":h": {"L": [n("9")]}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": evals[1]}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": st1_student,
                    "ConditionExpression": "attribute_exists(photo)",
                }
            },
            {"Put": {"TableName": HASH_TABLE, "Item": {"id": s("h50"), "grp": s("g1"), "rank": n("4")}}},
            {"Delete": {"TableName": HASH_TABLE, "Key": {"id": s("h00")}}},
        ],
    )
    state(rec, "after success", [key_of(new_eval), evals[0], evals[1], {"id": s("h50")}, {"id": s("h00")}])
    rec.paginate(
        "after success st2",
        "query",
        TableName=TABLE,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": s(st["st2"])},
    )

    touched = [
        *evals[2:5],
        st1_student,
        st3_student,
        new_note,
        {"PK": s(st["st2"]), "SK": s("EVAL#T9#new")},
        *({"id": s(f"h{i:02d}")} for i in (1, 2, 3, 77)),
    ]
    before = state(rec, "before cancelled", touched, full=True)

    def cancelled(name: str, transact_items: list[dict[str, Any]]) -> None:
        """A transaction that must fail and leave every item it names as it was."""
        rec.call(name, "transact_write_items", TransactItems=transact_items)
        after = state(rec, f"after {name}", touched)
        rec.check(f"{name}: touched items unchanged", after["items"] == before["items"])

    # A failed condition after a Put (overwrite, and new in a new partition), an Update and a
    # Delete, with writes after the failure; both tables.
    cancelled(
        "transaction cancelled by a condition",
        [
            {"Put": {"TableName": TABLE, "Item": {**evals[2], "score": n("0"), "GSI1PK": s("moved")}}},
            {"Put": {"TableName": TABLE, "Item": {**new_note, "text": s("x")}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": evals[3],
                    "UpdateExpression": "ADD score :d SET details.#l = :l, history = list_append(history, :h)",
                    "ExpressionAttributeNames": {"#l": "level"},
                    "ExpressionAttributeValues": {":d": n("1"), ":l": s("changed"), ":h": {"L": [n("5")]}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": evals[4]}},
            {"Put": {"TableName": HASH_TABLE, "Item": {"id": s("h77"), "grp": s("g1"), "rank": n("1")}}},
            {"Delete": {"TableName": HASH_TABLE, "Key": {"id": s("h01")}}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": st1_student,
                    "ConditionExpression": "#n = :expected",
                    "ExpressionAttributeNames": {"#n": "name"},
                    "ExpressionAttributeValues": {":expected": s("somebody else")},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": HASH_TABLE,
                    "Key": {"id": s("h02")},
                    "UpdateExpression": "SET payload = :p",
                    "ExpressionAttributeValues": {":p": s("after the failure")},
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"PK": s(st["st2"]), "SK": s("EVAL#T9#new")},
                    "UpdateExpression": "SET score = :v",
                    "ExpressionAttributeValues": {":v": n("1")},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": st3_student}},
        ],
    )
    # Failed by its first operation (ALL_OLD of an item with a binary attribute); two failures.
    cancelled(
        "transaction cancelled by its first operation",
        [
            {
                "ConditionCheck": {
                    "TableName": HASH_TABLE,
                    "Key": {"id": s("h03")},
                    "ConditionExpression": "attribute_not_exists(blob)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {"Put": {"TableName": HASH_TABLE, "Item": {"id": s("h01"), "grp": s("g2")}}},
            {"Delete": {"TableName": TABLE, "Key": st3_student}},
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {**st1_student, "name": s("x")},
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ],
    )
    # The same item twice: a ValidationException once the earlier operations were applied.
    update_eval = {
        "TableName": TABLE,
        "Key": evals[3],
        "UpdateExpression": "SET score = :v",
        "ExpressionAttributeValues": {":v": n("1")},
    }
    cancelled(
        "transaction naming an item twice",
        [
            {"Delete": {"TableName": TABLE, "Key": evals[3]}},
            {"Put": {"TableName": TABLE, "Item": {**new_note, "text": s("y")}}},
            {"Delete": {"TableName": HASH_TABLE, "Key": {"id": s("h02")}}},
            {"Update": update_eval},
        ],
    )
    cancelled(
        "transaction naming an item twice on the hash-only table",
        [
            {"Put": {"TableName": HASH_TABLE, "Item": {"id": s("h77"), "grp": s("g2"), "rank": n("0")}}},
            {"Delete": {"TableName": HASH_TABLE, "Key": {"id": s("h02")}}},
            {
                "ConditionCheck": {
                    "TableName": HASH_TABLE,
                    "Key": {"id": s("h77")},
                    "ConditionExpression": "attribute_exists(id)",
                }
            },
        ],
    )
    cancelled(
        "transaction writing to a missing table",
        [
            {"Put": {"TableName": TABLE, "Item": {**new_note, "text": s("z")}}},
            {"Put": {"TableName": "absent", "Item": {"PK": s("x"), "SK": s("y")}}},
        ],
    )
    after = state(rec, "after cancelled transactions", touched, full=True)
    rec.check(
        "cancelled transactions left the tables as they were",
        after["scan t"] == before["scan t"] and after["scan h"] == before["scan h"],
    )
    rec.check(
        "cancelled transactions left no stream records",
        after["stream t"] == before["stream t"] and after["stream h"] == before["stream h"],
    )

    # The partitions and indexes the rollbacks touched read as before; later writes stream on.
    for pk in (st["st2"], st["st3"], st["st8"]):
        rec.paginate(
            f"after transactions {pk}",
            "query",
            TableName=TABLE,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": s(pk)},
            Limit=3,
        )
    rec.paginate(
        "after transactions GSI1",
        "query",
        TableName=TABLE,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues={":pk": s(grading_td.course_term_pk(SCHOOL, "c1", "T2"))},
        Limit=4,
    )
    rec.paginate(
        "after transactions h byGroup",
        "query",
        TableName=HASH_TABLE,
        IndexName="byGroup",
        KeyConditionExpression="grp = :g",
        ExpressionAttributeValues={":g": s("g1")},
        Limit=4,
    )
    rec.call(
        "after transactions h by id",
        "query",
        TableName=HASH_TABLE,
        KeyConditionExpression="id = :i",
        ExpressionAttributeValues={":i": s("h01")},
    )
    rec.call(
        "put after transactions",
        "put_item",
        TableName=TABLE,
        Item={"PK": s(st["st8"]), "SK": s("NOTE#later")},
    )
    rec.call(
        "put h after transactions", "put_item", TableName=HASH_TABLE, Item={"id": s("h78"), "grp": s("g2")}
    )


def rollback_edges(rec: Recorder) -> None:
    """Transactions moto itself rolls back oddly: a stream read across a rollback, a malformed entry."""
    rec.section = "rollback edges"
    iterator = stream_of(rec, "edge", HASH_TABLE, "LATEST")  # a consumer keeps reading from here
    rec.call(
        "edge: transaction cancelled",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": HASH_TABLE, "Item": {"id": s("ghost")}}},
            {
                "ConditionCheck": {
                    "TableName": HASH_TABLE,
                    "Key": {"id": s("h05")},
                    "ConditionExpression": "attribute_not_exists(id)",
                }
            },
        ],
    )
    rec.call("edge: put after the rollback", "put_item", TableName=HASH_TABLE, Item={"id": s("after")})
    rec.call(
        "edge: records on the earlier iterator", "get_records", client=rec.streams, ShardIterator=iterator
    )
    rec.call(
        "edge: entry with two operations",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": HASH_TABLE, "Item": {"id": s("first")}}},
            {
                "Put": {"TableName": HASH_TABLE, "Item": {"id": s("second")}},
                "Delete": {"TableName": HASH_TABLE, "Key": {"id": s("h05")}},
            },
        ],
    )
    rec.call(
        "edge: first put of the refused transaction", "get_item", TableName=HASH_TABLE, Key={"id": s("first")}
    )


# --- DynamoDB Streams ------------------------------------------------------------------------------------

STREAM_TABLES = (
    ("streamed", "NEW_AND_OLD_IMAGES"),
    ("streamnew", "NEW_IMAGE"),
    ("streamold", "OLD_IMAGE"),
    ("streamkeys", "KEYS_ONLY"),
)
STREAM_PAGE = 4
JSON_ATTRIBUTE_TYPES = frozenset({"S", "N", "BOOL", "NULL", "M", "L", "SS", "NS"})


def pin_stream_clock() -> None:
    """Stamp stream records from their sequence numbers and streams at a fixed moment (both runs)."""
    from moto.dynamodb.models import table as table_module

    wall_clock = table_module.utcnow
    pinned = threading.local()

    def utcnow() -> datetime.datetime:
        moment = getattr(pinned, "moment", None)
        return wall_clock() if moment is None else moment

    def stamped(
        init: Callable[..., None], moment_of: Callable[..., datetime.datetime]
    ) -> Callable[..., None]:
        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            pinned.moment = moment_of(*args, **kwargs)
            try:
                init(self, *args, **kwargs)
            finally:
                pinned.moment = None

        return __init__

    def record_moment(table: Any, stream_type: str, event_name: str, old: Any, new: Any, seq: int) -> Any:
        offset = datetime.timedelta(
            seconds=seq % 600, microseconds=STREAM_MICROSECONDS[seq % len(STREAM_MICROSECONDS)]
        )
        return STREAM_EPOCH + offset

    def shard_moment(*_: Any) -> datetime.datetime:
        return STREAM_EPOCH.replace(microsecond=654321)

    table_module.utcnow = utcnow
    table_module.StreamRecord.__init__ = stamped(table_module.StreamRecord.__init__, record_moment)  # type: ignore[method-assign]
    table_module.StreamShard.__init__ = stamped(table_module.StreamShard.__init__, shard_moment)  # type: ignore[method-assign]


def count_moto_serialized(counts: Counter[str]) -> None:
    """Count the DynamoDB Streams responses written by moto's generic serializer, by operation."""
    from moto.core.responses import ActionResult

    original = ActionResult.execute_result

    @functools.wraps(original)
    def execute_result(self: Any, context: Any) -> Any:
        if context.service_model.service_name == "dynamodbstreams":
            counts[context.operation_model.name] += 1
        return original(self, context)

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]


def stream_item(index: int) -> dict[str, Any]:
    """An item with every attribute type a stream image carries as plain JSON (no binary values)."""
    return {
        "id": s(f"r{index % 3}"),
        "at": n(str(index)),
        "name": s(f'Élève {index}: "quoted", back\\slash, tab\tline\n, ✓ 😀 \u2028'),
        "empty": s(""),
        "score": n(SCORES[index % len(SCORES)]),
        "written": n(NUMBER_FORMATS[index % len(NUMBER_FORMATS)]),
        "passed": {"BOOL": index % 2 == 0},
        "missing": {"NULL": True},
        "tags": {"SS": [f"t{index}", "common", "ü"]},
        "codes": {"NS": ["1", str(index + 2), "2.5", "1E1"]},
        "details": {
            "M": {
                "level": s("advanced"),
                "rubric": {"M": {"clarity": n("3"), "depth": {"L": [n("4.5"), {"NULL": True}]}}},
                "nothing": {"M": {}},
            }
        },
        "history": {
            "L": [
                n("1"),
                s("two"),
                {"BOOL": False},
                {"M": {"k": {"SS": ["b", "a"]}}},
                {"L": []},
                {"NS": ["8", "7"]},
            ]
        },
    }


def attribute_types(value: Any) -> set[str]:
    """Every attribute type named in parsed stream records (keys of one-member attribute values)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in JSON_ATTRIBUTE_TYPES | {"B", "BS"}:
            found.add(next(iter(value)))
        for item in value.values():
            found |= attribute_types(item)
    elif isinstance(value, list):
        for item in value:
            found |= attribute_types(item)
    return found


def stream_pages(rec: Recorder, name: str, iterator: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Read until a page comes back empty, one step per page; returns the records read."""
    records: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        arguments: dict[str, Any] = {"ShardIterator": iterator} | ({"Limit": limit} if limit else {})
        response = rec.call(f"{name} page {page}", "get_records", client=rec.streams, **arguments)
        records += response.get("Records", [])
        iterator = response.get("NextShardIterator", "")
        if not response.get("Records") or not iterator:
            return records
    rec.checks[f"{name}: reading ends"] = False
    return records


def stream_section(rec: Recorder) -> None:
    """Stream records of every view type and attribute type, read in pages, from several positions."""
    rec.section = "streams"
    for table, view in STREAM_TABLES:
        rec.call(
            f"streams: create {table}",
            "create_table",
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "at", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "id", "KeyType": "HASH"},
                {"AttributeName": "at", "KeyType": "RANGE"},
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
        )
    main = STREAM_TABLES[0][0]
    consumer = stream_of(rec, "streams: consumer", main, "LATEST")
    before = rec.call(
        "streams: nothing written yet", "get_records", client=rec.streams, ShardIterator=consumer
    )
    consumer = before.get("NextShardIterator", consumer)

    def key(index: int) -> dict[str, Any]:
        return {"id": s(f"r{index % 3}"), "at": n(str(index))}

    for table, _ in STREAM_TABLES:
        batch = [{"PutRequest": {"Item": stream_item(index)}} for index in range(6)]
        rec.call(f"streams: batch write {table}", "batch_write_item", RequestItems={table: batch})
        for index in (6, 7):
            rec.call(f"streams: put {table} {index}", "put_item", TableName=table, Item=stream_item(index))
        changed = {**stream_item(1), "passed": {"BOOL": True}, "extra": {"L": [{"M": {}}]}}
        del changed["tags"]
        rec.call(f"streams: overwrite {table}", "put_item", TableName=table, Item=changed)
        rec.call(
            f"streams: update {table}",
            "update_item",
            TableName=table,
            Key=key(2),
            UpdateExpression="SET score = :s, details.#l = :l REMOVE tags ADD codes :c",
            ExpressionAttributeNames={"#l": "level"},
            ExpressionAttributeValues={":s": n("9.75"), ":l": s("basic"), ":c": {"NS": ["42"]}},
        )
        rec.call(f"streams: delete {table}", "delete_item", TableName=table, Key=key(3))
        rec.call(
            f"streams: transaction {table}",
            "transact_write_items",
            TransactItems=[
                {"Put": {"TableName": table, "Item": stream_item(8)}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key(4),
                        "UpdateExpression": "SET #m = :m, passed = :p",
                        "ExpressionAttributeNames": {"#m": "missing"},  # a reserved word
                        "ExpressionAttributeValues": {":m": {"NULL": True}, ":p": {"BOOL": False}},
                    }
                },
                {"Delete": {"TableName": table, "Key": key(5)}},
            ],
        )

    read: dict[str, list[dict[str, Any]]] = {}
    for table, _ in STREAM_TABLES:
        iterator = stream_of(rec, f"streams: {table}", table)
        read[table] = stream_pages(rec, f"streams: {table} in pages of {STREAM_PAGE}", iterator, STREAM_PAGE)
        whole = rec.call(
            f"streams: {table} in one page",
            "get_records",
            client=rec.streams,
            ShardIterator=stream_of(rec, f"streams: {table} again", table),
        )
        rec.check(
            f"streams: {table} read in pages as in one page",
            normalize(read[table]) == normalize(whole.get("Records")) and len(read[table]) >= 10,
        )
    records = read[main]
    rec.check(
        "streams: images carry every JSON attribute type",
        attribute_types(records) >= JSON_ATTRIBUTE_TYPES
        and {r["eventName"] for r in records} == {"INSERT", "MODIFY", "REMOVE"},
    )
    stream_pages(rec, "streams: the consumer's pages", consumer)
    arn = rec.call("streams: list all", "list_streams", client=rec.streams)["Streams"]
    main_arn = next(stream["StreamArn"] for stream in arn if stream["TableName"] == main)
    shard = rec.call("streams: describe", "describe_stream", client=rec.streams, StreamArn=main_arn)[
        "StreamDescription"
    ]["Shards"][0]["ShardId"]
    third = records[2]["dynamodb"]["SequenceNumber"] if len(records) > 2 else "0"
    for position in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        iterator = rec.call(
            f"streams: iterator {position}",
            "get_shard_iterator",
            client=rec.streams,
            StreamArn=main_arn,
            ShardId=shard,
            ShardIteratorType=position,
            SequenceNumber=third,
        ).get("ShardIterator", "")
        rec.call(
            f"streams: two from {position}",
            "get_records",
            client=rec.streams,
            ShardIterator=iterator,
            Limit=2,
        )
    last = records[-1]["dynamodb"]["SequenceNumber"] if records else "0"
    after_last = rec.call(
        "streams: iterator after the last record",
        "get_shard_iterator",
        client=rec.streams,
        StreamArn=main_arn,
        ShardId=shard,
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=last,
    ).get("ShardIterator", "")
    empty = rec.call(
        "streams: empty page", "get_records", client=rec.streams, ShardIterator=after_last, Limit=1
    )
    rec.check("streams: an empty page after the last record", empty.get("Records") == [])
    # A binary value: the page goes through moto's own serializer, the fixes or not.
    rec.call("streams: put binary", "put_item", TableName=main, Item={**key(9), "blob": {"B": b"\x00\xff"}})
    rec.call("streams: page with a binary value", "get_records", client=rec.streams, ShardIterator=after_last)


# --- SQS ------------------------------------------------------------------------------------------------

SQS_TIMESTAMPS = frozenset(
    {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "CreatedTimestamp", "LastModifiedTimestamp"}
)
SQS_MAX_RECEIVES = 2
SQS_DELAY_SECONDS = 3


class SqsShape:
    """Masks what differs from run to run in SQS responses; message ids become stable aliases."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.aliases: dict[str, str] = {}

    def alias(self, message_id: str) -> str:
        return self.aliases.setdefault(message_id, f"<message {len(self.aliases) + 1}>")

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            shaped: dict[str, Any] = {}
            for key, item in value.items():
                if key == "ResponseMetadata":
                    shaped[key] = "<volatile>"
                elif key == "MessageId" and isinstance(item, str):
                    shaped[key] = self.alias(item)
                elif key == "ReceiptHandle":
                    shaped[key] = "<receipt handle>"
                elif key in SQS_TIMESTAMPS:
                    # epoch milliseconds (messages) or seconds with a fraction (queues)
                    shaped[key] = "<timestamp>" if re.fullmatch(r"\d+(\.\d+)?", str(item)) else item
                else:
                    shaped[key] = self(item)
            return shaped
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        if isinstance(value, str):
            return value.replace(self.endpoint, "<endpoint>")
        return normalize(value)


def sqs_section(rec: Recorder) -> None:
    """A queue with a DLQ: send, batch send, delay, receive, visibility, delete, redrive, long poll."""
    rec.section = "sqs"
    rec.shape = SqsShape(rec.endpoint)
    sqs = rec.sqs

    def attributes(school: str, correlation: str) -> dict[str, Any]:
        return {
            "school_id": {"DataType": "String", "StringValue": school},
            "correlation_id": {"DataType": "String", "StringValue": correlation},
            "attempt": {"DataType": "Number", "StringValue": "1"},
        }

    def receive(name: str, url: str, count: int = 10, **kwargs: Any) -> list[dict[str, Any]]:
        response = rec.call(
            name,
            "receive_message",
            client=sqs,
            QueueUrl=url,
            MaxNumberOfMessages=count,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            **kwargs,
        )
        return list(response.get("Messages", []))

    def depth(name: str, url: str) -> dict[str, str]:
        return dict(
            rec.call(
                name,
                "get_queue_attributes",
                client=sqs,
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            ).get("Attributes", {})
        )

    dlq = rec.call(
        "sqs: create the DLQ",
        "create_queue",
        client=sqs,
        QueueName="scenario-events-dlq",
        Attributes={"MessageRetentionPeriod": "1209600"},
    )["QueueUrl"]
    dlq_arn = rec.call(
        "sqs: DLQ arn", "get_queue_attributes", client=sqs, QueueUrl=dlq, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    queue = rec.call(
        "sqs: create the queue",
        "create_queue",
        client=sqs,
        QueueName="scenario-events",
        Attributes={
            "VisibilityTimeout": "30",
            "MessageRetentionPeriod": "345600",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": SQS_MAX_RECEIVES}
            ),
        },
    )["QueueUrl"]
    rec.call(
        "sqs: all attributes", "get_queue_attributes", client=sqs, QueueUrl=queue, AttributeNames=["All"]
    )
    rec.call(
        "sqs: send one",
        "send_message",
        client=sqs,
        QueueUrl=queue,
        MessageBody=json.dumps({"event_id": "evt-00000000"}),
        MessageAttributes=attributes("s1", "corr-0"),
    )
    rec.call(
        "sqs: send a batch",
        "send_message_batch",
        client=sqs,
        QueueUrl=queue,
        Entries=[
            {
                "Id": f"evt-0000000{n}",
                "MessageBody": json.dumps({"event_id": f"evt-0000000{n}", "n": n}),
                "MessageAttributes": attributes("s1" if n % 2 else "s2", f"corr-{n}"),
            }
            for n in range(1, 5)
        ],
    )
    rec.call(
        "sqs: a batch repeating an id",
        "send_message_batch",
        client=sqs,
        QueueUrl=queue,
        Entries=[{"Id": "same", "MessageBody": "a"}, {"Id": "same", "MessageBody": "b"}],
    )
    rec.call(
        "sqs: send delayed",
        "send_message",
        client=sqs,
        QueueUrl=queue,
        MessageBody="delayed",
        DelaySeconds=SQS_DELAY_SECONDS,
    )
    depth("sqs: depth after sending", queue)
    first = receive("sqs: receive three", queue, 3)
    second = receive("sqs: receive the rest", queue)
    third = receive("sqs: nothing visible", queue)
    rec.check("sqs: received messages stay invisible", len(first) == 3 and len(second) == 2 and not third)
    depth("sqs: depth with everything in flight", queue)
    if len(first) < 3 or len(second) < 2:
        return
    rec.call(
        "sqs: delete one (and a bad handle)",
        "delete_message_batch",
        client=sqs,
        QueueUrl=queue,
        Entries=[
            {"Id": "ok", "ReceiptHandle": first[0]["ReceiptHandle"]},
            {"Id": "bad", "ReceiptHandle": "not-a-receipt-handle"},
        ],
    )
    retried, received = first[1:], []
    for attempt in range(1, SQS_MAX_RECEIVES + 1):
        rec.call(
            f"sqs: make two visible again ({attempt})",
            "change_message_visibility_batch",
            client=sqs,
            QueueUrl=queue,
            Entries=[
                {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, message in enumerate(retried)
            ],
        )
        again = receive(f"sqs: receive after visibility 0 ({attempt})", queue)
        received.append(len(again))
        retried = again or retried
    # Received twice (maxReceiveCount), then moved to the DLQ by the next receive instead.
    rec.check("sqs: retried until maxReceiveCount, then not received", received == [2, 0])
    moved = receive("sqs: the DLQ holds them", dlq, VisibilityTimeout=0)
    again = receive("sqs: visibility 0 on receive: received again", dlq)
    rec.check(
        "sqs: a message moves to the DLQ after maxReceiveCount receives, body intact",
        sorted(m["Body"] for m in moved) == sorted(m["Body"] for m in first[1:])
        and sorted(m["MessageId"] for m in again) == sorted(m["MessageId"] for m in moved),
    )
    depth("sqs: DLQ depth", dlq)
    depth("sqs: queue depth after the redrive", queue)
    delayed = receive("sqs: long poll for the delayed message", queue, WaitTimeSeconds=SQS_DELAY_SECONDS + 5)
    rec.check("sqs: the delayed message arrives after its delay", [m["Body"] for m in delayed] == ["delayed"])
    rec.call(
        "sqs: delete in flight",
        "delete_message_batch",
        client=sqs,
        QueueUrl=queue,
        Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(second + delayed)],
    )
    depth("sqs: empty at the end", queue)
    rec.check("sqs: deleted messages never come back", not receive("sqs: nothing left", queue))
    rec.shape = normalize


def fix_status() -> dict[str, bool]:
    """Whether each patched entry point is a fix (the stock run must have none)."""
    from moto import backends
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoResult
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.sqs import models as sqs_models

    def patched(value: Any) -> bool:
        return bool(getattr(value, "__luca_fix__", False))

    return {
        "cached-backend-lookup": patched(backends.list_of_moto_modules),
        "item-level-transactions": patched(models.DynamoDBBackend.transact_write_items),
        "partition-scoped-queries": patched(Table.query),
        "direct-json-results": patched(DynamoResult.execute_result),
        "fast-sqs-clock": patched(sqs_models.unix_time_millis),
        "direct-sqs-retention-check": patched(
            sqs_models.SQSBackend.is_message_valid_based_on_retention_period
        ),
        "batch-system-attributes": patched(sqs_models.SQSBackend.send_message_batch),
        "direct-stream-records": patched(DynamoDBStreamsHandler.get_records)
        and patched(DynamoDBStreamsHandler.describe_stream),
    }


def apply_fixes() -> dict[str, Any]:
    """``apply()`` three times, the last with its bookkeeping forgotten: nothing is patched twice."""
    from moto import backends
    from moto.dynamodb import models, responses
    from moto.dynamodb.models import table, utilities
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoResult
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.sqs import models as sqs_models

    from luca_infra.local import emulator_fixes

    def entry_points() -> list[Any]:
        return [
            backends.list_of_moto_modules,
            models.DynamoDBBackend.transact_write_items,
            models.copy,
            table.copy,
            table.Table.query,
            table.Table.all_items,
            table.Table.sorted_items,
            Item.project,
            Item.size,
            utilities.dynamo_to_dict,
            responses.dynamo_to_dict,
            DynamoResult.execute_result,
            sqs_models.unix_time_millis,
            sqs_models.SQSBackend.is_message_valid_based_on_retention_period,
            DynamoDBStreamsHandler.get_records,
            DynamoDBStreamsHandler.describe_stream,
        ]

    first = emulator_fixes.apply()
    patched = entry_points()
    second = emulator_fixes.apply()
    emulator_fixes._applied.clear()  # as if the fixes were asked for again from scratch
    third = emulator_fixes.apply()
    return {
        "first": list(first),
        "second": list(second),
        "third": list(third),
        "entry points unchanged by repeated apply": all(
            a is b for a, b in zip(patched, entry_points(), strict=True)
        ),
    }


def run(mode: str) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(variable, "testing")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    applied = apply_fixes() if mode == "fixed" else None
    pin_stream_clock()
    moto_serialized: Counter[str] = Counter()
    count_moto_serialized(moto_serialized)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        rec = Recorder(f"http://{host}:{port}")
        items = setup(rec)
        reads(rec, items)
        base_queries(rec)
        index_queries(rec)
        hash_table_queries(rec)
        writes(rec, items)
        transactions(rec, items)
        scans(rec)
        final = state(rec, "final", [], full=True)
        rec.check("streams hold records", len(final["stream t"]) > 10 and len(final["stream h"]) > 10)
        rec.call("describe t", "describe_table", TableName=TABLE)
        rec.call("describe h", "describe_table", TableName=HASH_TABLE)
        rec.call("describe ttl t", "describe_time_to_live", TableName=TABLE)
        rollback_edges(rec)
        stream_section(rec)
        sqs_section(rec)
    finally:
        server.stop()
    return {
        "mode": mode,
        "apply": applied,
        "fixes": fix_status(),
        "checks": rec.checks,
        "sections": rec.sections,
        "stream responses": {
            "calls": dict(rec.stream_calls),
            "GetRecords pages with binary values": rec.binary_pages,
            "written by moto's serializer": dict(moto_serialized),
        },
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"fixed", "stock"}:
        print("usage: emulator_scenario.py fixed|stock", file=sys.stderr)
        return 2
    json.dump(run(argv[0]), sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
