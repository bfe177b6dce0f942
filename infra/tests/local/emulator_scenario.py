"""A deterministic DynamoDB script against a fresh moto server, every response recorded.

Run as ``python emulator_scenario.py fixed`` (``emulator_fixes.apply()`` first, as the embedded
emulator does) or ``python emulator_scenario.py stock`` (moto as installed). It prints one JSON
document: the recorded steps, a few invariants the script checks itself, and which fixes were in
force. ``test_emulator_fixes.py`` runs both modes in separate processes (the fixes patch moto for the
whole process and cannot be undone) and compares the two documents.

Each step records what a client sees: the response boto3 parsed (or the error code, message and any
modeled error fields such as ``CancellationReasons``) and the JSON body on the wire. Only values that
differ from one run to the next are masked (timestamps, random ids, stream labels and iterators);
their presence is kept.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from luca_grading.adapters import table_design as td

REGION = "us-east-1"
TABLE = "grades"
HASH_TABLE = "hashed"
MAX_PAGES = 60

# Values that change from one run to the next whatever moto does: masked, but their presence is kept.
VOLATILE_KEYS = frozenset(
    {
        "ResponseMetadata",
        "CreationDateTime",
        "CreationRequestDateTime",
        "ApproximateCreationDateTime",
        "LastUpdateToPayPerRequestDateTime",
        "LastIncreaseDateTime",
        "LastDecreaseDateTime",
        "LatestStreamLabel",
        "LatestStreamArn",
        "StreamLabel",
        "StreamArn",
        "ShardIterator",
        "NextShardIterator",
        "TableId",
        "eventID",
        # A stream record's size counts its creation time, written as a float of varying length.
        "SizeBytes",
    }
)
SET_TYPES = frozenset({"SS", "NS", "BS"})


def normalize(value: Any) -> Any:
    """A JSON-ready copy with volatile values masked; ints and floats stay distinct (1 vs 1.0)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((kind, members),) = value.items()
            if kind in SET_TYPES and isinstance(members, list):  # a set's order means nothing
                return {kind: sorted((normalize(m) for m in members), key=json.dumps)}
        return {
            key: ("<volatile>" if key in VOLATILE_KEYS else normalize(item)) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return {"<bytes>": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime.datetime):
        return "<datetime>"
    return value


class Recorder:
    """Calls the emulator through boto3 and keeps every response (parsed and on the wire)."""

    def __init__(self, endpoint: str) -> None:
        config = Config(retries={"max_attempts": 1, "mode": "standard"})
        self.dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint, config=config)
        self.streams = boto3.client(
            "dynamodbstreams", region_name=REGION, endpoint_url=endpoint, config=config
        )
        self.steps: list[dict[str, Any]] = []
        self.checks: dict[str, bool] = {}
        self._wire: list[Any] = []
        for client in (self.dynamodb, self.streams):
            client.meta.events.register("before-parse.*.*", self._capture)

    def _capture(self, response_dict: dict[str, Any], **_: Any) -> None:
        body = response_dict.get("body") or b""
        try:
            self._wire.append(json.loads(body) if body else None)
        except ValueError:
            self._wire.append({"<unparsed>": body.decode("utf-8", "replace")})

    def call(self, name: str, operation: str, client: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Run one operation and record it; returns the parsed response ({} on an error)."""
        client = client or self.dynamodb
        self._wire.clear()
        step: dict[str, Any] = {"step": name, "operation": operation}
        result: dict[str, Any] = {}
        try:
            result = getattr(client, operation)(**kwargs)
            step["response"] = normalize(result)
        except ClientError as error:
            step["error"] = normalize(error.response)
        step["wire"] = normalize(list(self._wire))
        self.steps.append(step)
        return result

    def paginate(
        self, name: str, operation: str, key: str = "ExclusiveStartKey", **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Follow LastEvaluatedKey page by page, each page one step; returns every item seen."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        for page in range(MAX_PAGES):
            arguments = dict(kwargs)
            if start is not None:
                arguments[key] = start
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
TERMS = ("T1", "T2")
SUBJECTS = ("math", "art", "hist")
SCORES = ("6.5", "7", "4.25", "10", "-0.5", "5.0", "1E1", "3.333333333333333333333333333333333333")


def student_item(school: str, student: str, course: str, photo: bytes | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": s(td.student_pk(school, student)),
        "SK": s(td.STUDENT_SK),
        "GSI1PK": s(td.course_roster_pk(school, course)),
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
    school: str, student: str, course: str, term: str, subject: str, recorded: str, ident: str, score: str
) -> dict[str, Any]:
    return {
        "PK": s(td.student_pk(school, student)),
        "SK": s(f"EVAL#{term}#{subject}#{recorded}#{ident}"),
        "GSI1PK": s(td.course_term_pk(school, course, term)),
        "GSI1SK": s(f"SUBJECT#{subject}#STUDENT#{student}#{ident}"),
        "GSI2PK": s(td.school_term_pk(school, term)),
        "GSI2SK": s(f"STUDENT#{student}#{ident}"),
        "score": n(score),
        "weight": n("10"),
        "details": {
            "M": {
                "level": s("basic" if score.startswith("-") else "advanced"),
                "comments": {"L": [s("first"), n("2"), {"BOOL": False}, {"NULL": True}]},
                "rubric": {"M": {"clarity": n("3"), "depth": n("4.5")}},
            }
        },
        "history": {"L": [n("1"), n("2")]},
        "codes": {"NS": ["3", "1", "2.5"]},
    }


def table_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        student_item(SCHOOL, "st1", "c1", photo=bytes(range(0, 256, 7))),
        student_item(SCHOOL, "st2", "c1"),
        student_item(SCHOOL, "st3", "c2"),
        student_item(SCHOOL, "st4", "c1"),
        student_item(OTHER_SCHOOL, "st9", "c1"),
    ]
    counter = 0
    for student, course in (("st1", "c1"), ("st2", "c1"), ("st3", "c2"), ("st4", "c1")):
        for term in TERMS:
            for subject in SUBJECTS:
                counter += 1
                recorded = f"2024-0{counter % 9 + 1}-1{counter % 10}T10:00:00Z"
                items.append(
                    evaluation_item(
                        SCHOOL,
                        student,
                        course,
                        term,
                        subject,
                        recorded,
                        f"e{counter:03d}",
                        SCORES[counter % len(SCORES)],
                    )
                )
    items.append(evaluation_item(OTHER_SCHOOL, "st9", "c1", "T1", "math", "2024-03-01", "e900", "9"))
    # Same index sort key under the same index partition: ties broken by the table's keys.
    for student in ("st4", "st2", "st3"):
        tie = evaluation_item(SCHOOL, student, "c1", "T1", "tie", "2024-05-05", "tie", "8")
        tie["GSI1SK"] = s("TIE")
        tie["GSI2SK"] = s("TIE")
        items.append(tie)
    # Notes and catalog entries carry no index keys; partial index keys keep an item off the index.
    for index in range(4):
        items.append(
            {
                "PK": s(td.student_pk(SCHOOL, "st1")),
                "SK": s(f"NOTE#2024-0{index + 1}-01#n{index}"),
                "text": s(f"note {index}"),
                "mood": n(str(index - 1)),
            }
        )
    for subject in SUBJECTS:
        items.append({"PK": s(td.catalog_pk(SCHOOL)), "SK": s(td.subject_sk(subject)), "title": s(subject)})
    items.append({"PK": s(td.catalog_pk(SCHOOL)), "SK": s(td.course_sk("c1")), "title": s("Course 1")})
    no_sort_key = evaluation_item(SCHOOL, "st2", "c1", "T1", "math", "2024-09-09", "half1", "2")
    del no_sort_key["GSI1SK"], no_sort_key["GSI2PK"]
    no_partition_key = evaluation_item(SCHOOL, "st3", "c2", "T2", "art", "2024-09-09", "half2", "3")
    del no_partition_key["GSI1PK"], no_partition_key["GSI2SK"]
    items.extend([no_sort_key, no_partition_key])
    # Sort keys that order differently as strings and as numbers.
    for sort_key in ("10", "9", "100", "1", "09"):
        items.append({"PK": s(td.rules_pk(SCHOOL)), "SK": s(sort_key), "rule": s(f"rule {sort_key}")})
    return items


def hash_table_request() -> dict[str, Any]:
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
            {
                "IndexName": "byGroup",
                "KeySchema": [
                    {"AttributeName": "grp", "KeyType": "HASH"},
                    {"AttributeName": "rank", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "byGroupOnly",
                "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


RANKS = ("10", "9", "-1.5", "1E1", "100", "0", "2.25", "-20", "9.5", "3")


def hash_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for index in range(14):
        item: dict[str, Any] = {"id": s(f"h{index:02d}"), "payload": s(f"p{index}"), "count": n(str(index))}
        if index % 7 != 6:
            item["grp"] = s("g1" if index % 2 else "g2")
        if index % 5 != 4:
            item["rank"] = n(RANKS[index % len(RANKS)])
        if index == 3:
            item["blob"] = {"B": b"\x00binary\xff"}
        items.append(item)
    return items


# --- steps --------------------------------------------------------------------------------------------


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    if "id" in item:
        return {"id": item["id"]}
    return {"PK": item["PK"], "SK": item["SK"]}


def read_stream(rec: Recorder, name: str, table: str) -> list[dict[str, Any]]:
    """Every record of the table's stream, read from TRIM_HORIZON with a fresh iterator."""
    streams = rec.call(f"{name}: list streams", "list_streams", client=rec.streams, TableName=table)
    arn = streams["Streams"][0]["StreamArn"]
    description = rec.call(f"{name}: describe stream", "describe_stream", client=rec.streams, StreamArn=arn)
    shard = description["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = rec.call(
        f"{name}: shard iterator",
        "get_shard_iterator",
        client=rec.streams,
        StreamArn=arn,
        ShardId=shard,
        ShardIteratorType="TRIM_HORIZON",
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        response = rec.call(
            f"{name}: records {page}", "get_records", client=rec.streams, ShardIterator=iterator, Limit=25
        )
        batch = response.get("Records", [])
        records.extend(batch)
        iterator = response.get("NextShardIterator")
        if not batch or not iterator:
            break
    return normalize(records)


def state(rec: Recorder, name: str, keys: list[dict[str, Any]]) -> dict[str, Any]:
    """What a client can see of both tables: full scans, the named items, both streams."""
    return {
        "t": normalize(rec.paginate(f"{name}: scan t", "scan", TableName=TABLE)),
        "h": normalize(rec.paginate(f"{name}: scan h", "scan", TableName=HASH_TABLE)),
        "items": [
            normalize(
                rec.call(
                    f"{name}: get {json.dumps(key, sort_keys=True)}",
                    "get_item",
                    TableName=HASH_TABLE if "id" in key else TABLE,
                    Key=key,
                    ConsistentRead=True,
                ).get("Item")
            )
            for key in keys
        ],
        "stream t": read_stream(rec, f"{name}: stream t", TABLE),
        "stream h": read_stream(rec, f"{name}: stream h", HASH_TABLE),
    }


def setup(rec: Recorder) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rec.call("create t", "create_table", **td.create_table_request(TABLE))
    rec.call("create h", "create_table", **hash_table_request())
    rec.call("ttl t", "update_time_to_live", **td.time_to_live_request(TABLE))
    rec.call("list tables", "list_tables")

    items = table_items()
    random.Random(7).shuffle(items)  # the table's insertion order is not its key order
    first, rest = items[:6], items[6:]
    for index, item in enumerate(first):
        rec.call(f"put t {index}", "put_item", TableName=TABLE, Item=item, ReturnConsumedCapacity="TOTAL")
    for start in range(0, len(rest), 25):
        rec.call(
            f"batch write t {start}",
            "batch_write_item",
            RequestItems={TABLE: [{"PutRequest": {"Item": item}} for item in rest[start : start + 25]]},
        )
    hashed = hash_items()
    random.Random(11).shuffle(hashed)
    for item in hashed:
        rec.call(f"put h {item['id']['S']}", "put_item", TableName=HASH_TABLE, Item=item)
    return items, hashed


def reads(rec: Recorder, items: list[dict[str, Any]]) -> None:
    st1 = td.student_pk(SCHOOL, "st1")
    st1_key = {"PK": s(st1), "SK": s(td.STUDENT_SK)}
    rec.call("get binary item", "get_item", TableName=TABLE, Key=st1_key)
    rec.call("get binary item consistent", "get_item", TableName=TABLE, Key=st1_key, ConsistentRead=True)
    rec.call(
        "get projected",
        "get_item",
        TableName=TABLE,
        Key=st1_key,
        ProjectionExpression="#n, tags, photo, guardian",
        ExpressionAttributeNames={"#n": "name"},
    )
    rec.call("get missing", "get_item", TableName=TABLE, Key={"PK": s(st1), "SK": s("NOPE")})
    rec.call("get in missing table", "get_item", TableName="absent", Key=st1_key)
    rec.call("get h binary", "get_item", TableName=HASH_TABLE, Key={"id": s("h03")})
    rec.call("get h missing", "get_item", TableName=HASH_TABLE, Key={"id": s("zz")})
    evaluation = next(item for item in items if item["SK"]["S"].startswith("EVAL#T2#art"))
    rec.call(
        "batch get",
        "batch_get_item",
        RequestItems={
            TABLE: {
                "Keys": [st1_key, key_of(evaluation), {"PK": s(st1), "SK": s("NOPE")}],
                "ConsistentRead": True,
            },
            HASH_TABLE: {"Keys": [{"id": s("h03")}, {"id": s("h05")}, {"id": s("zz")}]},
        },
        ReturnConsumedCapacity="TOTAL",
    )
    rec.call(
        "batch get projected",
        "batch_get_item",
        RequestItems={
            TABLE: {
                "Keys": [key_of(evaluation), st1_key],
                "ProjectionExpression": "PK, details.rubric, history[1], photo",
            }
        },
    )


def base_queries(rec: Recorder) -> None:
    def query(name: str, pk: str, condition: str = "", **kwargs: Any) -> None:
        values = {":pk": s(pk), **kwargs.pop("values", {})}
        rec.paginate(
            name,
            "query",
            TableName=TABLE,
            KeyConditionExpression="PK = :pk" + (f" AND {condition}" if condition else ""),
            ExpressionAttributeValues=values,
            **kwargs,
        )

    st1 = td.student_pk(SCHOOL, "st1")
    st2 = td.student_pk(SCHOOL, "st2")
    query("st1 all", st1)
    query("st1 all consumed", st1, ReturnConsumedCapacity="TOTAL")
    query("st1 evals T1", st1, "begins_with(SK, :p)", values={":p": s("EVAL#T1#")})
    query("st2 between", st2, "SK BETWEEN :a AND :b", values={":a": s("EVAL#T1#hist"), ":b": s("EVAL#T2#b")})
    query("st2 below", st2, "SK < :a", values={":a": s("EVAL#T2")})
    query("st2 from", st2, "SK >= :a", values={":a": s("EVAL#T2")}, ScanIndexForward=False)
    query("st1 backwards", st1, ScanIndexForward=False)
    query("st1 paged", st1, Limit=3)
    query("st1 paged backwards", st1, Limit=4, ScanIndexForward=False)
    query(
        "st1 evals paged backwards",
        st1,
        "begins_with(SK, :p)",
        values={":p": s("EVAL#")},
        Limit=2,
        ScanIndexForward=False,
    )
    query(
        "st2 filtered",
        st2,
        "begins_with(SK, :p)",
        values={":p": s("EVAL#"), ":min": n("5")},
        FilterExpression="score >= :min AND details.#l = :lvl",
        ExpressionAttributeNames={"#l": "level"},
        Limit=2,
    )
    query(
        "st1 projected",
        st1,
        "begins_with(SK, :p)",
        values={":p": s("EVAL#T2")},
        ProjectionExpression="SK, score, details.rubric.depth, history[0], #c",
        ExpressionAttributeNames={"#c": "codes"},
    )
    query("st1 count", st1, Select="COUNT")
    query("st1 count filtered", st1, Select="COUNT", FilterExpression="attribute_exists(mood)")
    query("empty partition", td.student_pk(SCHOOL, "nobody"))
    query("empty partition range", td.student_pk(SCHOOL, "nobody"), "SK > :a", values={":a": s("A")})
    query("no match in partition", st1, "begins_with(SK, :p)", values={":p": s("ZZZ")})
    query("rules order", td.rules_pk(SCHOOL))
    query("rules paged backwards", td.rules_pk(SCHOOL), Limit=2, ScanIndexForward=False)
    query("catalog", td.catalog_pk(SCHOOL), "begins_with(SK, :p)", values={":p": s("SUBJECT#")})
    query("other school", td.student_pk(OTHER_SCHOOL, "st9"))
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
    def query(name: str, index: str, pk: str, condition: str = "", **kwargs: Any) -> list[dict[str, Any]]:
        values = {":pk": s(pk), **kwargs.pop("values", {})}
        return rec.paginate(
            name,
            "query",
            TableName=TABLE,
            IndexName=index,
            KeyConditionExpression=f"{index}PK = :pk" + (f" AND {condition}" if condition else ""),
            ExpressionAttributeValues=values,
            **kwargs,
        )

    course_term = td.course_term_pk(SCHOOL, "c1", "T1")
    school_term = td.school_term_pk(SCHOOL, "T1")
    seen: list[tuple[str, dict[str, Any]]] = []
    for index, pk in (("GSI1", course_term), ("GSI2", school_term)):
        seen += [(index, i) for i in query(f"{index} all", index, pk)]
        seen += [(index, i) for i in query(f"{index} paged", index, pk, Limit=2)]
        seen += [(index, i) for i in query(f"{index} paged backwards", index, pk, Limit=3, ScanIndexForward=False)]
        seen += [
            (index, i)
            for i in query(
                f"{index} filtered paged",
                index,
                pk,
                values={":min": n("6")},
                FilterExpression="score > :min",
                Limit=2,
            )
        ]
        query(f"{index} count", index, pk, Select="COUNT")
        query(f"{index} projected", index, pk, ProjectionExpression="PK, SK, score", Limit=5)
        query(f"{index} empty partition", index, pk + "X")
        query(f"{index} consumed", index, pk, ReturnConsumedCapacity="INDEXES", Limit=4)
    seen += [
        ("GSI1", i)
        for i in query(
            "GSI1 begins_with",
            "GSI1",
            course_term,
            "begins_with(GSI1SK, :p)",
            values={":p": s("SUBJECT#math#")},
        )
    ]
    seen += [
        ("GSI1", i)
        for i in query(
            "GSI1 between backwards",
            "GSI1",
            course_term,
            "GSI1SK BETWEEN :a AND :b",
            values={":a": s("SUBJECT#art"), ":b": s("TIE")},
            ScanIndexForward=False,
            Limit=3,
        )
    ]
    seen += [("GSI1", i) for i in query("GSI1 roster", "GSI1", td.course_roster_pk(SCHOOL, "c1"), Limit=1)]
    seen += [("GSI2", i) for i in query("GSI2 T2", "GSI2", td.school_term_pk(SCHOOL, "T2"), Limit=5)]
    query("GSI1 partial keys partition", "GSI1", td.course_term_pk(SCHOOL, "c2", "T2"))
    rec.check(
        "index results carry their index keys",
        all(f"{index}PK" in item and f"{index}SK" in item for index, item in seen),
    )
    rec.check("index queries returned items", len(seen) > 20)


def hash_table_queries(rec: Recorder) -> None:
    def query(name: str, pk: str, index: str | None = None, condition: str = "", **kwargs: Any) -> None:
        attribute = "grp" if index else "id"
        values = {":pk": s(pk), **kwargs.pop("values", {})}
        extra = {"IndexName": index} if index else {}
        rec.paginate(
            name,
            "query",
            TableName=HASH_TABLE,
            KeyConditionExpression=f"{attribute} = :pk" + (f" AND {condition}" if condition else ""),
            ExpressionAttributeValues=values,
            **extra,
            **kwargs,
        )

    query("h by id", "h05")
    query("h by id binary", "h03")
    query("h by id missing", "zz")
    query("h by id count", "h05", Select="COUNT")
    query("h by id filtered out", "h05", values={":c": n("100")}, FilterExpression="#c > :c", ExpressionAttributeNames={"#c": "count"})
    for group in ("g1", "g2"):
        query(f"h byGroup {group}", group, "byGroup")
        query(f"h byGroup {group} paged", group, "byGroup", Limit=2)
        query(f"h byGroup {group} paged backwards", group, "byGroup", Limit=3, ScanIndexForward=False)
        query(f"h byGroupOnly {group} paged", group, "byGroupOnly", Limit=2)
        query(f"h byGroupOnly {group} backwards", group, "byGroupOnly", ScanIndexForward=False)
    query("h byGroup range", "g1", "byGroup", "#r BETWEEN :a AND :b", values={":a": n("-2"), ":b": n("10")}, ExpressionAttributeNames={"#r": "rank"})
    query("h byGroup above", "g2", "byGroup", "#r > :a", values={":a": n("2.25")}, ExpressionAttributeNames={"#r": "rank"}, Limit=1)
    query("h byGroup missing group", "g9", "byGroup")


def scans(rec: Recorder) -> None:
    rec.paginate("scan t", "scan", TableName=TABLE)
    rec.paginate("scan t paged", "scan", TableName=TABLE, Limit=7)
    rec.paginate(
        "scan t filtered",
        "scan",
        TableName=TABLE,
        FilterExpression="attribute_exists(score) AND score < :v",
        ExpressionAttributeValues={":v": n("6")},
        Limit=9,
    )
    rec.paginate("scan t projected", "scan", TableName=TABLE, ProjectionExpression="PK, SK, GSI1SK")
    rec.call("scan t count", "scan", TableName=TABLE, Select="COUNT")
    for segment in range(2):
        rec.paginate(f"scan t segment {segment}", "scan", TableName=TABLE, Segment=segment, TotalSegments=2)
    rec.paginate("scan GSI1", "scan", TableName=TABLE, IndexName="GSI1")
    rec.paginate("scan GSI2 paged", "scan", TableName=TABLE, IndexName="GSI2", Limit=5)
    rec.paginate("scan h", "scan", TableName=HASH_TABLE)
    rec.paginate("scan h paged", "scan", TableName=HASH_TABLE, Limit=4)
    rec.paginate("scan h byGroup", "scan", TableName=HASH_TABLE, IndexName="byGroup", Limit=3)
    rec.paginate("scan h byGroupOnly", "scan", TableName=HASH_TABLE, IndexName="byGroupOnly")


def writes(rec: Recorder, items: list[dict[str, Any]]) -> None:
    st1 = {"PK": s(td.student_pk(SCHOOL, "st1")), "SK": s(td.STUDENT_SK)}
    evaluation = next(item for item in items if item["SK"]["S"].startswith("EVAL#T1#math"))
    eval_key = key_of(evaluation)

    def update(name: str, key: dict[str, Any], expression: str, table: str = TABLE, **kwargs: Any) -> None:
        rec.call(name, "update_item", TableName=table, Key=key, UpdateExpression=expression, **kwargs)

    update("add number", eval_key, "ADD score :d", ExpressionAttributeValues={":d": n("1.5")}, ReturnValues="UPDATED_NEW")
    update("add negative", eval_key, "ADD score :d", ExpressionAttributeValues={":d": n("-20")}, ReturnValues="ALL_NEW")
    update("add new number", eval_key, "ADD attempts :one", ExpressionAttributeValues={":one": n("1")}, ReturnValues="UPDATED_OLD")
    update(
        "list_append",
        eval_key,
        "SET history = list_append(history, :more)",
        ExpressionAttributeValues={":more": {"L": [n("3"), s("x"), {"M": {"k": {"B": b"\x07"}}}]}},
        ReturnValues="UPDATED_NEW",
    )
    update(
        "list_append prepend",
        eval_key,
        "SET history = list_append(:first, history)",
        ExpressionAttributeValues={":first": {"L": [n("0")]}},
        ReturnValues="ALL_OLD",
    )
    update(
        "list_append if_not_exists",
        eval_key,
        "SET fresh = list_append(if_not_exists(fresh, :empty), :one)",
        ExpressionAttributeValues={":empty": {"L": []}, ":one": {"L": [n("1")]}},
        ReturnValues="UPDATED_NEW",
    )
    update(
        "set nested",
        eval_key,
        "SET details.rubric.clarity = details.rubric.clarity + :one, details.extra = :m REMOVE codes",
        ExpressionAttributeValues={":one": n("1"), ":m": {"M": {"a": {"SS": ["z", "y"]}}}},
        ReturnValues="ALL_NEW",
    )
    update("add to string set", st1, "ADD tags :t", ExpressionAttributeValues={":t": {"SS": ["c-tag", "a-tag"]}}, ReturnValues="UPDATED_NEW")
    update("delete from string set", st1, "DELETE tags :t", ExpressionAttributeValues={":t": {"SS": ["b-tag"]}}, ReturnValues="ALL_NEW")
    update("set binary", st1, "SET photo = :p", ExpressionAttributeValues={":p": {"B": b"\xfe\xed"}}, ReturnValues="UPDATED_OLD")
    update(
        "conditional update fails",
        st1,
        "SET born = :b",
        ConditionExpression="born = :old",
        ExpressionAttributeValues={":b": n("2012"), ":old": n("1999")},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    update("upsert", {"PK": s(td.student_pk(SCHOOL, "st7")), "SK": s("NOTE#x")}, "ADD visits :one", ExpressionAttributeValues={":one": n("1")}, ReturnValues="ALL_NEW")
    update("h add", {"id": s("h05")}, "ADD #c :d", table=HASH_TABLE, ExpressionAttributeNames={"#c": "count"}, ExpressionAttributeValues={":d": n("5")}, ReturnValues="ALL_NEW", ReturnConsumedCapacity="TOTAL")
    rec.call(
        "put overwrite all_old",
        "put_item",
        TableName=TABLE,
        Item={**st1, "name": s("replaced"), "photo": {"B": b"\x00\x00"}},
        ReturnValues="ALL_OLD",
    )
    rec.call(
        "put conditional fails",
        "put_item",
        TableName=TABLE,
        Item={**st1, "name": s("nope")},
        ConditionExpression="attribute_not_exists(PK)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    note = {"PK": s(td.student_pk(SCHOOL, "st1")), "SK": s("NOTE#2024-02-01#n1")}
    rec.call("delete all_old", "delete_item", TableName=TABLE, Key=note, ReturnValues="ALL_OLD")
    rec.call("delete missing", "delete_item", TableName=TABLE, Key=note, ReturnValues="ALL_OLD")
    rec.call("delete h", "delete_item", TableName=HASH_TABLE, Key={"id": s("h13")}, ReturnValues="ALL_OLD")
    rec.call("get after writes", "get_item", TableName=TABLE, Key=eval_key)


def transactions(rec: Recorder, items: list[dict[str, Any]]) -> None:
    st = {name: td.student_pk(SCHOOL, name) for name in ("st1", "st2", "st3", "st4", "st8")}
    evals = [item for item in items if item["SK"]["S"].startswith("EVAL#") and item["PK"]["S"] == st["st2"]]
    st1_student = {"PK": s(st["st1"]), "SK": s(td.STUDENT_SK)}
    st3_student = {"PK": s(st["st3"]), "SK": s(td.STUDENT_SK)}
    st4_student = {"PK": s(st["st4"]), "SK": s(td.STUDENT_SK)}
    new_eval = evaluation_item(SCHOOL, "st2", "c1", "T2", "math", "2025-01-01", "tx1", "9.75")
    rec.call(
        "transaction succeeds",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": new_eval, "ConditionExpression": "attribute_not_exists(PK)"}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key_of(evals[0]),
                    "UpdateExpression": "ADD score :d SET history = list_append(history, :h)",
                    "ExpressionAttributeValues": {":d": n("2"), ":h": {"L": [n("9")]}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": key_of(evals[1])}},
            {"ConditionCheck": {"TableName": TABLE, "Key": st1_student, "ConditionExpression": "attribute_exists(photo)"}},
            {"Put": {"TableName": HASH_TABLE, "Item": {"id": s("h50"), "grp": s("g1"), "rank": n("4")}}},
            {"Delete": {"TableName": HASH_TABLE, "Key": {"id": s("h00")}}},
        ],
    )
    for key in (key_of(new_eval), key_of(evals[0]), key_of(evals[1])):
        rec.call(f"after success {key['SK']['S']}", "get_item", TableName=TABLE, Key=key)
    rec.paginate("after success st2", "query", TableName=TABLE, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": s(st["st2"])})

    # Cancelled by a failed condition after a Put (new and overwrite), an Update and a Delete,
    # with more writes after the failure; a new partition and the hash-only table included.
    touched = [
        key_of(evals[2]),
        key_of(evals[3]),
        key_of(evals[4]),
        st1_student,
        st3_student,
        {"PK": s(st["st8"]), "SK": s("NOTE#new")},
        {"PK": s(st["st2"]), "SK": s("EVAL#T9#new")},
        {"id": s("h01")},
        {"id": s("h02")},
        {"id": s("h77")},
        {"id": s("h03")},
    ]
    before = state(rec, "before cancelled", touched)
    rec.call(
        "transaction cancelled by condition",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**key_of(evals[2]), "score": n("0"), "GSI1PK": s("moved")}}},
            {"Put": {"TableName": TABLE, "Item": {"PK": s(st["st8"]), "SK": s("NOTE#new"), "text": s("x")}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key_of(evals[3]),
                    "UpdateExpression": "ADD score :d SET details.level = :l, history = list_append(history, :h)",
                    "ExpressionAttributeValues": {":d": n("1"), ":l": s("changed"), ":h": {"L": [n("5")]}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": key_of(evals[4])}},
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
    after = state(rec, "after cancelled", touched)
    rec.check("cancelled transaction: items and scans unchanged", before["items"] == after["items"] and before["t"] == after["t"] and before["h"] == after["h"])
    rec.check("cancelled transaction: no stream records", before["stream t"] == after["stream t"] and before["stream h"] == after["stream h"])

    # Cancelled by its first operation (ALL_OLD on the hash-only table, binary attribute), later
    # writes applied and rolled back, two failed conditions.
    before = after
    rec.call(
        "transaction cancelled first",
        "transact_write_items",
        TransactItems=[
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
    after = state(rec, "after cancelled first", touched)
    rec.check("first-cancelled transaction: no trace", before == after)

    # The same item twice: a ValidationException after the first operation was applied.
    before = after
    rec.call(
        "transaction same item twice",
        "transact_write_items",
        TransactItems=[
            {"Delete": {"TableName": TABLE, "Key": key_of(evals[3])}},
            {"Put": {"TableName": TABLE, "Item": {"PK": s(st["st8"]), "SK": s("NOTE#new"), "text": s("y")}}},
            {"Delete": {"TableName": HASH_TABLE, "Key": {"id": s("h02")}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key_of(evals[3]),
                    "UpdateExpression": "SET score = :v",
                    "ExpressionAttributeValues": {":v": n("1")},
                }
            },
        ],
    )
    after = state(rec, "after same item twice", touched)
    rec.check("duplicate-item transaction: no trace", before == after)

    before = after
    rec.call(
        "transaction same item twice h",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": HASH_TABLE, "Item": {"id": s("h77"), "grp": s("g2"), "rank": n("0")}}},
            {"Delete": {"TableName": HASH_TABLE, "Key": {"id": s("h02")}}},
            {"ConditionCheck": {"TableName": HASH_TABLE, "Key": {"id": s("h77")}, "ConditionExpression": "attribute_exists(id)"}},
        ],
    )
    after = state(rec, "after same item twice h", touched)
    rec.check("duplicate-item transaction on h: no trace", before == after)

    # A write to a table that does not exist cancels the others.
    before = after
    rec.call(
        "transaction missing table",
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"PK": s(st["st8"]), "SK": s("NOTE#new"), "text": s("z")}}},
            {"Put": {"TableName": "absent", "Item": {"PK": s("x"), "SK": s("y")}}},
        ],
    )
    after = state(rec, "after missing table", touched)
    rec.check("missing-table transaction: no trace", before == after)

    # Everything still reads as it did: partitions a rollback touched, indexes, new partitions.
    for pk in (st["st2"], st["st3"], st["st8"]):
        rec.paginate(f"after transactions {pk}", "query", TableName=TABLE, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": s(pk)}, Limit=3)
    rec.paginate(
        "after transactions GSI1",
        "query",
        TableName=TABLE,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues={":pk": s(td.course_term_pk(SCHOOL, "c1", "T2"))},
        Limit=4,
    )
    rec.paginate("after transactions h byGroup", "query", TableName=HASH_TABLE, IndexName="byGroup", KeyConditionExpression="grp = :g", ExpressionAttributeValues={":g": s("g1")}, Limit=4)
    rec.call("after transactions h by id", "query", TableName=HASH_TABLE, KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": s("h01")})

    # Writes after the rollbacks land in the stream right after the records that were kept.
    rec.call("put after transactions", "put_item", TableName=TABLE, Item={"PK": s(st["st8"]), "SK": s("NOTE#later"), "text": s("later")})
    rec.call("h put after transactions", "put_item", TableName=HASH_TABLE, Item={"id": s("h78"), "grp": s("g2"), "rank": n("7")})


def fix_status() -> dict[str, Any]:
    """Whether each patched entry point is moto's own or a fix (the stock run must have none)."""
    from moto import backends
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoResult

    def patched(value: Any) -> bool:
        return bool(getattr(value, "__luca_fix__", False))

    return {
        "cached-backend-lookup": patched(backends.list_of_moto_modules),
        "item-level-transactions": patched(models.DynamoDBBackend.transact_write_items),
        "partition-scoped-queries": patched(Table.query),
        "direct-json-results": patched(DynamoResult.execute_result),
    }


def apply_fixes() -> dict[str, Any]:
    """``apply()`` twice (and once more with its bookkeeping forgotten): nothing is patched twice."""
    from moto import backends
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoResult

    from luca_infra.local import emulator_fixes

    def entry_points() -> list[Any]:
        return [
            backends.list_of_moto_modules,
            models.DynamoDBBackend.transact_write_items,
            models.copy,
            Table.query,
            Table.all_items,
            Table.sorted_items,
            DynamoResult.execute_result,
        ]

    first = emulator_fixes.apply()
    patched = entry_points()
    second = emulator_fixes.apply()
    emulator_fixes._applied.clear()  # as if the module were imported afresh in the same process
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
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        rec = Recorder(f"http://{host}:{port}")
        items, _hashed = setup(rec)
        reads(rec, items)
        base_queries(rec)
        index_queries(rec)
        hash_table_queries(rec)
        scans(rec)
        writes(rec, items)
        transactions(rec, items)
        scans(rec)
        final = state(rec, "final", [])
        rec.check("streams hold records", len(final["stream t"]) > 10 and len(final["stream h"]) > 10)
        rec.call("describe t", "describe_table", TableName=TABLE)
        rec.call("describe h", "describe_table", TableName=HASH_TABLE)
        rec.call("describe ttl t", "describe_time_to_live", TableName=TABLE)
    finally:
        server.stop()
    return {"mode": mode, "apply": applied, "fixes": fix_status(), "checks": rec.checks, "steps": rec.steps}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"fixed", "stock"}:
        print("usage: emulator_scenario.py fixed|stock", file=sys.stderr)
        return 2
    json.dump(run(argv[0]), sys.stdout, sort_keys=True)
    return 0


def iter_steps(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for step in document["steps"]:
        yield step["step"], step


Check = Callable[[dict[str, Any]], bool]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
