"""The Lambda bundles run on their own: the grade processor's, the government sync's and the lake
enrichment's.

Each zip is unzipped next to a copy of what the Lambda Python runtime ships (the AWS SDK and its
dependencies) and its handlers run in a fresh isolated interpreter (``-I -S``: the stdlib, the bundle
and that copy, nothing from the virtual environment), against moto's server: a real SQS-shaped batch
through the grade processor; a school's sync (prepare, submit against the ministry simulator, report)
and the schedule's start through the government sync's functions; a stream batch through the
enrichment function. Each zip holds its own service's package and no other's, and ships the
versions its service's lock pins; the builder refuses a tree whose lock or pyproject disagrees.
Every module ships its unchecked-hash bytecode for the runtime's Python, which is what the
handlers import from: replace the zip's sources and they still import, remove the pycs and they fail.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import marshal
import re
import shutil
import subprocess
import textwrap
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from luca_govsync.simulator.server import SimulatorServer
from luca_govsync.simulator.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from luca_grading.adapters.dynamodb_repository import DynamoRepositoryFactory, evaluation_item
from luca_grading.domain.model import Evaluation
from luca_infra.bundle import (
    BUNDLES,
    INGEST_BUNDLE,
    BundleError,
    NativeCodeError,
    base_interpreter,
    build,
    build_analytics_bundle,
    build_govsync_bundle,
    build_ingest_bundle,
    bundle_files,
    bytecode_name,
    bytecode_tag,
    check_handler_imports,
    compile_bytecode,
    contents,
    describe,
    write_zip,
)
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.deployables import copy_tree
from luca_infra.workspace import read_lock, service_lock_path, services
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Student, Subject, Term
from luca_platform.aws import AwsClients
from luca_platform.contracts import roster
from luca_platform.table.codec import to_wire
from luca_platform.table.keys import create_table_request

REPO_ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
SCHOOL = "school-a"
STUDENT = "st-1"
COURSE = "1A"
SUBJECT = "math"
# What the Lambda Python runtime itself provides, stated here independently of the bundler.
LAMBDA_RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six")

RUN_HANDLER = textwrap.dedent(
    """
    import json, sys, sysconfig, time

    bundle, runtime, event_file, result_file = sys.argv[1:5]
    sys.path[:0] = [bundle, runtime]
    started = time.perf_counter()
    from luca_ingest.entrypoints.handler import handler
    import_seconds = time.perf_counter() - started


    class Context:
        function_name = "luca-grade-processor"
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:luca-grade-processor"
        aws_request_id = "req-bundle-test"
        log_group_name = "/aws/lambda/luca-grade-processor"
        log_stream_name = "bundle-test"

        @staticmethod
        def get_remaining_time_in_millis():
            return 30_000


    with open(event_file) as source:
        event = json.load(source)
    response = handler(event, Context())
    stdlib = sysconfig.get_paths()["stdlib"]
    origins = {}
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and not origin.startswith(stdlib) and name not in ("__main__", "__mp_main__"):
            origins.setdefault(name.split(".")[0], origin)
    with open(result_file, "w") as sink:
        json.dump({"response": response, "import_seconds": import_seconds, "origins": origins}, sink)
    """
)


GOVSYNC = PLATFORM_DEFINITION.govsync
PERIOD = "2026-T1"
# Runs the government sync's functions as Step Functions and the schedule would: prepare, each batch's
# submit, report, then the scheduled start. Everything is imported from the bundle and the runtime copy.
RUN_GOVSYNC = textwrap.dedent(
    """
    import json, sys, sysconfig, time

    bundle, runtime, request_file, result_file = sys.argv[1:5]
    sys.path[:0] = [bundle, runtime]
    started = time.perf_counter()
    from luca_govsync.entrypoints import handlers
    import_seconds = time.perf_counter() - started


    class Context:
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        aws_request_id = "req-bundle-test"
        log_stream_name = "bundle-test"

        def __init__(self, name):
            self.function_name = name
            self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
            self.log_group_name = f"/aws/lambda/{name}"

        @staticmethod
        def get_remaining_time_in_millis():
            return 60_000


    with open(request_file) as source:
        request = json.load(source)
    school, period, sync_id = request["school_id"], request["period"], request["sync_id"]
    prepared = handlers.prepare(
        {"school_id": school, "period": period, "sync_id": sync_id, "started_by": "bundle-test"},
        Context("luca-govsync-prepare"),
    )
    submitted = [handlers.submit(batch, Context("luca-govsync-submit")) for batch in prepared["batches"]]
    report = handlers.report(
        {"school_id": school, "period": period, "sync_id": sync_id}, Context("luca-govsync-report")
    )
    scheduled = handlers.start_scheduled(
        {"scheduled_time": request["scheduled_time"]}, Context("luca-govsync-start-scheduled")
    )
    stdlib = sysconfig.get_paths()["stdlib"]
    origins = {}
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and not origin.startswith(stdlib) and name not in ("__main__", "__mp_main__"):
            origins.setdefault(name.split(".")[0], origin)
    with open(result_file, "w") as sink:
        json.dump(
            {
                "prepared": prepared,
                "submitted": submitted,
                "report": report,
                "scheduled": scheduled,
                "import_seconds": import_seconds,
                "origins": origins,
            },
            sink,
        )
    """
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ingest_bundle(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def govsync_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_govsync_bundle(tmp_path_factory.mktemp("govsync-dist"))


@pytest.fixture(scope="module")
def analytics_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_analytics_bundle(tmp_path_factory.mktemp("analytics-dist"))


@pytest.fixture
def ministry() -> Iterator[SimulatorServer]:
    """The ministry simulator, fault-free, in this process (its default client is the one we pass)."""
    server = SimulatorServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def lambda_runtime_copy(target: Path) -> Path:
    """The runtime's own packages, copied from this environment's site-packages."""
    target.mkdir()
    for name in LAMBDA_RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, f"{name} is not installed"
        if spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
            shutil.copytree(source, target / source.name)
        else:
            assert spec.origin is not None
            shutil.copy2(spec.origin, target)
    return target


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795773600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795773600001",
        },
        "messageAttributes": {
            "school_id": {"stringValue": SCHOOL, "dataType": "String"},
            "correlation_id": {"stringValue": f"corr-{message_id}", "dataType": "String"},
        },
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:luca-student-events",
        "awsRegion": REGION,
    }


def student_event(event_id: str, student: str) -> str:
    return json.dumps(
        {
            "event_id": event_id,
            "student_id": student,
            "course_id": COURSE,
            "subject_id": SUBJECT,
            "occurred_at": "2026-11-27T10:00:00Z",
            "schema_version": 1,
            "exercise_submission": {"exercise_id": "ex-1", "score": "6.5"},
        }
    )


def table_items(endpoint: str, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    items = client.scan(TableName=table)["Items"]
    return {(item["PK"]["S"], item["SK"]["S"]): item for item in items}


@pytest.mark.emulator
def test_the_bundle_alone_processes_a_batch_with_partial_failures(
    bundle: Path, emulator: str, tmp_path: Path
) -> None:
    # GIVEN the bundle unzipped beside a copy of the runtime's packages
    code_dir = tmp_path / "task"
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        archive.extractall(code_dir)
    runtime_dir = lambda_runtime_copy(tmp_path / "runtime")
    # AND a table holding one school with one student and one subject
    table = f"bundle-test-{uuid.uuid4().hex[:8]}"
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=emulator)
    dynamodb.create_table(**create_table_request(table))  # type: ignore[arg-type]
    seeding = DynamoRepositoryFactory(
        clients=AwsClients(region=REGION, endpoint_url=emulator), table_name=table
    )
    roster = seeding.for_school(SchoolId(SCHOOL))
    roster.put_student(Student(SchoolId(SCHOOL), StudentId(STUDENT), CourseId(COURSE), "Student One"))
    roster.put_subject(Subject(SchoolId(SCHOOL), SubjectId(SUBJECT), "Math"))
    before = table_items(emulator, table)
    # AND a batch: one valid event, one for a student the school does not have, one malformed body
    records = [
        sqs_record("msg-valid", student_event("evt-00000001", STUDENT)),
        sqs_record("msg-unknown-student", student_event("evt-00000002", "st-404")),
        sqs_record("msg-malformed", '{"event_id": "evt-00000003", '),
    ]
    event_file, result_file = tmp_path / "event.json", tmp_path / "result.json"
    event_file.write_text(json.dumps({"Records": records}))
    script = tmp_path / "run_handler.py"
    script.write_text(RUN_HANDLER)

    # WHEN the handler runs in an interpreter that sees only the stdlib, the bundle and the runtime copy
    completed = subprocess.run(
        [
            base_interpreter(),
            "-I",
            "-S",
            "-B",
            str(script),
            str(code_dir),
            str(runtime_dir),
            str(event_file),
            str(result_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "LUCA_TABLE_NAME": table,
            "LUCA_AWS_ENDPOINT_URL": emulator,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_METRICS_NAMESPACE": "Luca/Platform",
        },
    )

    # THEN the invocation succeeds and reports exactly the two bad records
    assert completed.returncode == 0, completed.stderr
    result = json.loads(result_file.read_text())
    failures = [failure["itemIdentifier"] for failure in result["response"]["batchItemFailures"]]
    assert sorted(failures) == ["msg-malformed", "msg-unknown-student"]
    # AND the valid event's result is the only thing written
    after = table_items(emulator, table)
    new_keys = set(after) - set(before)
    assert new_keys == {(f"SCHOOL#{SCHOOL}#STUDENT#{STUDENT}", "EXERCISE#evt-00000001")}
    [stored] = [after[key] for key in new_keys]
    assert stored["type"] == {"S": "ExerciseResult"}
    assert stored["score"] == {"N": "6.5"}
    assert {key: after[key] for key in before} == before
    # AND everything outside the stdlib came from the bundle or the runtime copy
    origins: dict[str, str] = result["origins"]
    strays = {
        name: origin
        for name, origin in origins.items()
        if not origin.startswith((str(code_dir), str(runtime_dir)))
    }
    assert strays == {}
    # AND the zip is pure Python and leaves the SDK to the runtime
    assert [name for name in names if name.endswith((".so", ".pyd"))] == []
    assert {name.split("/")[0] for name in names}.isdisjoint({"boto3", "botocore"})

    summary = describe(bundle)
    print(
        f"\ningest bundle: {summary.size_bytes} bytes ({summary.size_mib:.2f} MiB), {summary.files} files; "
        f"cold import of the handler: {result['import_seconds'] * 1000:.0f} ms; "
        f"from the bundle: {sorted(n for n, o in origins.items() if o.startswith(str(code_dir)))}"
    )


def test_building_twice_gives_the_same_bytes(bundle: Path, tmp_path: Path) -> None:
    again = build_ingest_bundle(tmp_path)

    assert again.read_bytes() == bundle.read_bytes()


def seed_grade(dynamodb: Any, table: str, school: str, evaluation_id: str, student: str, period: str) -> None:
    evaluation = Evaluation(
        school_id=SchoolId(school),
        evaluation_id=evaluation_id,
        student_id=StudentId(student),
        course_id=CourseId(COURSE),
        subject_id=SubjectId(SUBJECT),
        term_id=TermId(period),
        score=Decimal("5.5"),
        weight=Decimal("1"),
        teacher_id=TeacherId("t-1"),
        recorded_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    )
    item = {key: value for key, value in evaluation_item(evaluation).items() if value is not None}
    dynamodb.put_item(TableName=table, Item=to_wire(item))


@pytest.mark.emulator
def test_the_govsync_bundle_alone_syncs_a_school_and_starts_the_schedule(
    govsync_bundle: Path, emulator: str, ministry: SimulatorServer, tmp_path: Path
) -> None:
    # GIVEN the government sync's bundle unzipped beside a copy of the runtime's packages
    code_dir = tmp_path / "task"
    with zipfile.ZipFile(govsync_bundle) as archive:
        names = archive.namelist()
        archive.extractall(code_dir)
    runtime_dir = lambda_runtime_copy(tmp_path / "runtime")
    # AND a table with two official grades of the period for one school, and others it must not send
    suffix = uuid.uuid4().hex[:8]
    table = f"bundle-govsync-{suffix}"
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=emulator)
    dynamodb.create_table(**create_table_request(table))  # type: ignore[arg-type]
    seed_grade(dynamodb, table, SCHOOL, "ev-0001", STUDENT, PERIOD)
    seed_grade(dynamodb, table, SCHOOL, "ev-0002", "st-2", PERIOD)
    seed_grade(dynamodb, table, SCHOOL, "ev-0003", STUDENT, "2025-T4")  # another period
    seed_grade(dynamodb, table, "school-b", "ev-0004", STUDENT, PERIOD)  # another school
    for school in (SCHOOL, "school-b"):  # the term is over: closed, so the schedule may submit it
        closed = roster.term_item(
            Term(SchoolId(school), TermId(PERIOD), PERIOD, closed_at=datetime(2026, 3, 31, tzinfo=UTC))
        )
        dynamodb.put_item(TableName=table, Item=to_wire(closed))
    # AND the manifest bucket, the schools parameter and a state machine for the starter to start
    bucket = f"{GOVSYNC.manifest_bucket_prefix}-{suffix}"
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=emulator)
    s3.create_bucket(Bucket=bucket)
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=emulator)
    parameter = f"{GOVSYNC.schools_parameter}-{suffix}"
    ssm.put_parameter(Name=parameter, Type="StringList", Value=f"{SCHOOL},school-b")
    sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=emulator)
    state_machine = sfn.create_state_machine(
        name=f"{GOVSYNC.state_machine_name}-{suffix}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/states",
    )["stateMachineArn"]
    request_file, result_file = tmp_path / "request.json", tmp_path / "result.json"
    request_file.write_text(
        json.dumps(
            {
                "school_id": SCHOOL,
                "period": PERIOD,
                "sync_id": f"govsync-{SCHOOL}-{PERIOD}",
                # April's schedule submits the first term.
                "scheduled_time": "2026-04-01T09:00:00Z",
            }
        )
    )
    script = tmp_path / "run_govsync.py"
    script.write_text(RUN_GOVSYNC)

    # WHEN the functions run in an interpreter that sees only the stdlib, the bundle and the runtime copy
    completed = subprocess.run(
        [
            base_interpreter(),
            "-I",
            "-S",
            "-B",
            str(script),
            str(code_dir),
            str(runtime_dir),
            str(request_file),
            str(result_file),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={
            "LUCA_TABLE_NAME": table,
            "LUCA_MANIFEST_BUCKET": bucket,
            "LUCA_MINISTRY_URL": ministry.url,
            "LUCA_MINISTRY_CLIENT_ID": DEFAULT_CLIENT_ID,
            "LUCA_MINISTRY_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "LUCA_GOVSYNC_BATCH_SIZE": "1",  # one batch per grade: two submits
            "LUCA_MINISTRY_TIMEOUT_SECONDS": "10",
            "LUCA_AWS_REGION": REGION,
            "LUCA_AWS_ENDPOINT_URL": emulator,
            "LUCA_STATE_MACHINE_ARN": state_machine,
            "LUCA_SCHOOLS_PARAMETER": parameter,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "govsync",
        },
    )

    # THEN prepare found the school's two grades of the period, and wrote one manifest per batch
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(result_file.read_text())
    prepared = result["prepared"]
    assert (prepared["records_total"], len(prepared["batches"])) == (2, 2)
    manifests = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert sorted(m["Key"] for m in manifests) == sorted(b["manifest_key"] for b in prepared["batches"])
    assert all(m["Key"].startswith(f"{SCHOOL}/{PERIOD}/") for m in manifests)
    # AND both batches reached the ministry, whose books hold exactly those records, once
    assert [s["status"] for s in result["submitted"]] == ["done", "done"]
    accepted = sum(s["accepted"] for s in result["submitted"])
    assert accepted + sum(s["rejected"] for s in result["submitted"]) == 2
    books = ministry.ministry.ledger()
    assert (books["records"], books["duplicates"]) == (accepted, 0)
    assert set(books["by_school"]) <= {SCHOOL}
    # AND the report counts the sync from the table
    report = result["report"]
    assert (report["batches_total"], report["batches_done"], report["batches_failed"]) == (2, 2, 0)
    assert report["records_accepted"] == accepted
    # AND the scheduled start began one execution per listed school, for the term that just ended
    scheduled = result["scheduled"]
    assert scheduled["period"] == PERIOD
    assert len(scheduled["started"]) == 2
    executions = sfn.list_executions(stateMachineArn=state_machine)["executions"]
    assert sorted(e["name"] for e in executions) == sorted(scheduled["started"])
    # AND everything outside the stdlib came from the bundle or the runtime copy
    origins: dict[str, str] = result["origins"]
    strays = {
        name: origin
        for name, origin in origins.items()
        if not origin.startswith((str(code_dir), str(runtime_dir)))
    }
    assert strays == {}
    # AND the zip is pure Python, leaves the SDK to the runtime, and holds no simulator or builder
    assert [name for name in names if name.endswith((".so", ".pyd"))] == []
    assert {name.split("/")[0] for name in names}.isdisjoint({"boto3", "botocore", "starlette", "uvicorn"})
    assert not [n for n in names if n.startswith(("luca_govsync/simulator/", "luca_govsync/definition"))]
    assert not [n for n in names if n.startswith(("luca_grading/entrypoints/", "luca/"))]

    summary = describe(govsync_bundle)
    print(
        f"\ngovsync bundle: {summary.size_bytes} bytes ({summary.size_mib:.2f} MiB), {summary.files} files; "
        f"cold import of the handlers: {result['import_seconds'] * 1000:.0f} ms; "
        f"from the bundle: {sorted(n for n, o in origins.items() if o.startswith(str(code_dir)))}"
    )


def test_building_the_govsync_bundle_twice_gives_the_same_bytes(govsync_bundle: Path, tmp_path: Path) -> None:
    again = build_govsync_bundle(tmp_path)

    assert again.read_bytes() == govsync_bundle.read_bytes()


def test_the_zip_has_fixed_times_and_modes_and_no_stubs_tests_or_stray_bytecode(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        infos = archive.infolist()

    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    assert [n for n in names if n.endswith((".pyi", ".pyo")) or "/tests/" in n] == []
    # Bytecode only as the build's own, one pyc per module of the zip (no cache copied from a tree)
    expected = {bytecode_of(n) for n in names if n.endswith(".py")}
    assert {n for n in names if "__pycache__/" in n or n.endswith(".pyc")} == expected
    assert "luca/ingest/v1/schemas/StudentEvent.schema.json" in names


# -- bytecode --------------------------------------------------------------------------------------
# The runtime's cache tag and PEP 552's flags, stated here independently of the bundler.
RUNTIME_CACHE_TAG = "cpython-311"
UNCHECKED_HASH_FLAGS = 0b01  # hash-based, source not checked
SOURCE_MISSING = "raise ImportError('compiled from source: the shipped bytecode was not used')\n"
IMPORT_HANDLERS = textwrap.dedent(
    """
    import importlib, json, os, sys

    bundle, runtime = sys.argv[1:3]
    sys.path[:0] = [bundle, runtime]
    for handler in sys.argv[3:]:
        module, _, attribute = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute)), handler
    loaded = {
        name: module.__cached__
        for name, module in list(sys.modules.items())
        if str(getattr(module, "__file__", None)).startswith(bundle + os.sep)
    }
    print(json.dumps(loaded))
    """
)


def bytecode_of(source: str) -> str:
    directory, _, filename = source.rpartition("/")
    pyc = f"__pycache__/{filename.removesuffix('.py')}.{RUNTIME_CACHE_TAG}.pyc"
    return f"{directory}/{pyc}" if directory else pyc


@pytest.fixture(params=["ingest", "govsync", "analytics"])
def any_bundle(request: pytest.FixtureRequest) -> tuple[str, Path]:
    fixture = {"ingest": "bundle", "govsync": "govsync_bundle", "analytics": "analytics_bundle"}[
        request.param
    ]
    return request.param, request.getfixturevalue(fixture)


def test_every_module_ships_unchecked_hash_bytecode_of_its_own_source(any_bundle: tuple[str, Path]) -> None:
    name, zip_path = any_bundle
    assert BUNDLES[name].runtime == "python3.11"
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        sources = [n for n in names if n.endswith(".py")]
        assert sources
        for source in sources:
            # WHEN each module's pyc is read from where the import system looks for it
            data = archive.read(bytecode_of(source))
            code = archive.read(source)

            # THEN it is this interpreter's bytecode (3.11), hash-based and never checked,
            # of this very source, compiled under its name in the zip (no build machine path)
            assert data[:4] == importlib.util.MAGIC_NUMBER, source
            assert int.from_bytes(data[4:8], "little") == UNCHECKED_HASH_FLAGS, source
            assert data[8:16] == importlib.util.source_hash(code), source
            assert marshal.loads(data[16:]).co_filename == source  # noqa: S302 - our own build's bytecode


def test_the_handlers_import_from_the_shipped_bytecode_alone(
    any_bundle: tuple[str, Path], tmp_path: Path
) -> None:
    # GIVEN the bundle unzipped beside a copy of the runtime's packages, every .py of the zip then
    # replaced by a module that fails to import: only the shipped bytecode can import the handlers
    name, zip_path = any_bundle
    code_dir = tmp_path / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(code_dir)
    runtime_dir = lambda_runtime_copy(tmp_path / "runtime")
    for source in code_dir.rglob("*.py"):
        source.write_text(SOURCE_MISSING)
    command = [
        base_interpreter(),
        "-I",
        "-S",
        "-B",  # writes no bytecode: what loads is what the zip ships
        "-c",
        IMPORT_HANDLERS,
        str(code_dir),
        str(runtime_dir),
        *BUNDLES[name].handlers,
    ]

    # WHEN the handlers are imported in an interpreter that sees only the stdlib, the bundle and the runtime copy
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env={})

    # THEN they import, each module of the zip from its pyc in the zip's __pycache__
    assert completed.returncode == 0, completed.stderr[-4000:]
    loaded: dict[str, str] = json.loads(completed.stdout)
    assert loaded
    for module, cached in loaded.items():
        assert Path(cached).is_file(), module
        assert Path(cached).relative_to(code_dir).as_posix().endswith(f".{RUNTIME_CACHE_TAG}.pyc")
    assert len(list(code_dir.rglob("*.pyc"))) == len(list(code_dir.rglob("*.py")))  # the zip's, none written
    # AND without that bytecode the same import compiles the sources, and fails
    for cache in list(code_dir.rglob("__pycache__")):
        shutil.rmtree(cache)
    without = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env={})
    assert without.returncode != 0
    assert "the shipped bytecode was not used" in without.stderr


def test_the_builds_import_check_refuses_a_zip_whose_modules_it_would_compile(tmp_path: Path) -> None:
    # GIVEN the grade processor's zip with its sources only (as built before bytecode shipped)
    sources_only = tmp_path / "sources-only.zip"
    write_zip(bundle_files(INGEST_BUNDLE), sources_only)

    # WHEN the build's import check runs on it, THEN it names the modules compiled at import
    with pytest.raises(
        BundleError, match=r"bytecode was not used for: .*luca_ingest/entrypoints/handler\.py"
    ):
        check_handler_imports(sources_only, INGEST_BUNDLE.handlers)


def test_a_copy_of_the_tree_elsewhere_builds_the_same_bytes(bundle: Path, tree: Path, tmp_path: Path) -> None:
    # The pycs name each module as in the zip, never the path it was compiled from.
    again = build(INGEST_BUNDLE, tmp_path / "dist", root=tree)

    assert again.path.read_bytes() == bundle.read_bytes()


def test_another_python_than_the_runtimes_refuses_to_compile_the_bundle(tmp_path: Path) -> None:
    # Bytecode is tied to the minor version: a python3.12 function would ignore 3.11's pycs.
    spec = replace(INGEST_BUNDLE, runtime="python3.12")

    with pytest.raises(BundleError, match=r"built with python3\.12, not python3\.11 \(its bytecode"):
        build(spec, tmp_path)
    with pytest.raises(BundleError, match=r"built with python3\.12"):
        compile_bytecode({"m.py": tmp_path / "m.py"}, tmp_path, "python3.12")
    assert list(tmp_path.iterdir()) == []
    assert (bytecode_tag("python3.11"), bytecode_tag("python3.13")) == ("cpython-311", "cpython-313")
    assert bytecode_name("pkg/sub/mod.py", "cpython-311") == "pkg/sub/__pycache__/mod.cpython-311.pyc"


def test_a_native_extension_refuses_the_build(tmp_path: Path) -> None:
    extension = tmp_path / "_speedups.cpython-311-x86_64-linux-gnu.so"
    extension.write_bytes(b"\x7fELF")
    module = tmp_path / "module.py"
    module.write_text("VALUE = 1\n")
    target = tmp_path / "bundle.zip"

    with pytest.raises(NativeCodeError, match="_speedups"):
        write_zip(
            {"pkg/module.py": module, "pkg/_speedups.cpython-311-x86_64-linux-gnu.so": extension}, target
        )
    assert not target.exists()


RUN_ENRICH = textwrap.dedent(
    """
    import json, sys, sysconfig

    bundle, runtime, batch_file, result_file = sys.argv[1:5]
    sys.path[:0] = [bundle, runtime]
    from luca_analytics.entrypoints import enrich


    class Context:
        function_name = "luca-lake-enrichment"
        function_version = "$LATEST"
        memory_limit_in_mb = 512
        aws_request_id = "req-bundle-test"
        log_stream_name = "bundle-test"
        log_group_name = "/aws/lambda/luca-lake-enrichment"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:luca-lake-enrichment"

        @staticmethod
        def get_remaining_time_in_millis():
            return 60_000


    rows = enrich.handler(json.loads(open(batch_file).read()), Context())
    stdlib = sysconfig.get_paths()["stdlib"]
    origins = {
        name: str(getattr(module, "__file__", None))
        for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None)
        and not str(module.__file__).startswith(stdlib)
        and name not in ("__main__", "__mp_main__")
    }
    open(result_file, "w").write(json.dumps({"rows": rows, "origins": origins}))
    """
)


def stream_record(event_name: str, image: dict[str, Any] | None) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    section: dict[str, Any] = {"ApproximateCreationDateTime": 1740916800, "SequenceNumber": "1"}
    if image is not None:
        section["NewImage"] = {k: TypeSerializer().serialize(v) for k, v in image.items()}
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": section}


@pytest.mark.emulator
def test_the_analytics_bundle_alone_turns_stream_records_into_lake_rows(
    analytics_bundle: Path, emulator: str, tmp_path: Path
) -> None:
    # GIVEN the enrichment bundle unzipped beside a copy of the runtime's packages
    code_dir = tmp_path / "task"
    with zipfile.ZipFile(analytics_bundle) as archive:
        names = archive.namelist()
        archive.extractall(code_dir)
    runtime_dir = lambda_runtime_copy(tmp_path / "runtime")
    # AND the pseudonymisation key in the emulator's Secrets Manager
    secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=emulator)
    secret_arn = secrets.create_secret(
        Name=f"{PLATFORM_DEFINITION.analytics_aws.pseudonym_key_secret_name}-{uuid.uuid4().hex[:8]}",
        SecretString="bundle-test-key",
    )["ARN"]
    # AND a batch with a REMOVE, an unknown item type and one good evaluation
    evaluation = {
        "type": "Evaluation",
        "schema_version": Decimal(1),
        "school_id": SCHOOL,
        "evaluation_id": "ev-1",
        "student_id": STUDENT,
        "subject_id": "math",
        "term_id": "2025-T1",
        "score": Decimal("6.1"),
        "weight": Decimal(1),
        "recorded_at": "2025-03-01T10:00:00.000000Z",
    }
    batch = [
        stream_record("REMOVE", None),
        stream_record("INSERT", {"type": "Homework"}),
        stream_record("INSERT", evaluation),
    ]
    batch_file, result_file = tmp_path / "batch.json", tmp_path / "result.json"
    batch_file.write_text(json.dumps(batch))
    script = tmp_path / "run_enrich.py"
    script.write_text(RUN_ENRICH)

    # WHEN the handler runs in an interpreter that sees only the stdlib, the bundle and the runtime copy
    completed = subprocess.run(
        [
            base_interpreter(),
            "-I",
            "-S",
            "-B",
            str(script),
            str(code_dir),
            str(runtime_dir),
            str(batch_file),
            str(result_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "LUCA_PSEUDONYM_KEY_SECRET_ARN": secret_arn,
            "AWS_ENDPOINT_URL": emulator,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_METRICS_NAMESPACE": "Luca/Test",
        },
    )

    # THEN only the evaluation became a row, with its partition keys, and the skips were counted
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(result_file.read_text())
    assert [(r["school_id"], r["year"], r["month"], r["record_id"]) for r in result["rows"]] == [
        (SCHOOL, "2025", "03", "ev-1")
    ]
    assert STUDENT not in json.dumps(result["rows"])
    assert '"reason":"remove"' in completed.stdout
    assert '"reason":"unknown_type"' in completed.stdout
    # AND everything outside the stdlib came from the bundle or the runtime copy
    strays = {
        name: origin
        for name, origin in result["origins"].items()
        if not origin.startswith((str(code_dir), str(runtime_dir)))
    }
    assert strays == {}
    # AND the zip is pure Python and holds neither pyarrow, duckdb, the schema module nor the query service
    tops = {name.split("/")[0] for name in names}
    assert tops.isdisjoint({"pyarrow", "duckdb", "boto3", "botocore", "grpc", "luca", "luca_grading"})
    assert [name for name in names if name.endswith((".so", ".pyd"))] == []
    assert sorted(n for n in names if n.startswith("luca_analytics/") and n.endswith(".py")) == [
        "luca_analytics/__init__.py",
        "luca_analytics/domain/__init__.py",
        "luca_analytics/domain/lake.py",
        "luca_analytics/entrypoints/__init__.py",
        "luca_analytics/entrypoints/enrich.py",
    ]
    summary = describe(analytics_bundle)
    print(
        f"\nanalytics bundle: {summary.size_bytes} bytes ({summary.size_mib:.2f} MiB), {summary.files} files"
    )


# -- one service per zip, at its lock's versions ---------------------------------------------------
# Every service's import packages, stated here independently of the bundler.
SERVICE_PACKAGES = {
    "grading": "luca_grading",
    "ingest": "luca_ingest",
    "govsync": "luca_govsync",
    "analytics": "luca_analytics",
}


def test_no_zip_holds_another_services_package(
    bundle: Path, govsync_bundle: Path, analytics_bundle: Path
) -> None:
    for service, zip_path in (
        ("ingest", bundle),
        ("govsync", govsync_bundle),
        ("analytics", analytics_bundle),
    ):
        with zipfile.ZipFile(zip_path) as archive:
            tops = {name.split("/")[0] for name in archive.namelist()}
        others = {package for name, package in SERVICE_PACKAGES.items() if name != service}
        assert SERVICE_PACKAGES[service] in tops, service
        assert tops.isdisjoint(others), (service, sorted(tops & others))


def test_the_ingest_zip_holds_no_grading_code_nor_a_web_or_grpc_stack(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}

    assert "luca_grading" not in tops
    assert not [n for n in names if n.startswith("luca_grading/")]
    assert tops.isdisjoint({"fastapi", "starlette", "uvicorn", "grpc", "google", "jwt"})
    assert {"luca_ingest", "luca_kernel", "luca_platform", "luca"} <= tops
    # The tracing API and the X-Ray propagator, never the SDK (the ADOT layer brings it in AWS).
    assert "opentelemetry/propagators/aws/__init__.py" in names
    assert not [n for n in names if n.startswith("opentelemetry/sdk/")]


def test_each_zip_ships_the_versions_its_services_lock_pins(
    bundle: Path, govsync_bundle: Path, analytics_bundle: Path
) -> None:
    for name, zip_path in (("ingest", bundle), ("govsync", govsync_bundle), ("analytics", analytics_bundle)):
        spec = BUNDLES[name]
        pins = read_lock(REPO_ROOT / service_lock_path(spec.service))
        resolved = contents(spec)
        shipped = {entry.lower().replace("_", "-") for entry in describe(zip_path).distributions}

        assert shipped == {f"{d} {pins[d].version}" for d in resolved.distributions}, name
        # AND nothing the runtime provides, and nothing the service's lock does not pin
        assert set(resolved.distributions) <= set(pins)
        assert set(resolved.distributions).isdisjoint({"boto3", "botocore", "s3transfer", "urllib3", "six"})


def test_the_distributions_are_the_closure_of_what_the_handlers_require() -> None:
    assert contents(BUNDLES["ingest"]).distributions == (
        "aws-lambda-powertools",
        "cachetools",
        "fastjsonschema",
        "jmespath",
        "opentelemetry-api",
        "opentelemetry-propagator-aws-xray",
        "typing-extensions",
    )
    assert contents(BUNDLES["analytics"]).distributions == (
        "aws-lambda-powertools",
        "jmespath",
        "typing-extensions",
    )
    govsync = set(contents(BUNDLES["govsync"]).distributions)
    assert {
        "httpx",
        "httpcore",
        "h11",
        "anyio",
        "idna",
        "certifi",
        "cachetools",
        "aws-lambda-powertools",
    } <= govsync
    assert govsync.isdisjoint({"starlette", "uvicorn", "grpcio", "pyjwt", "pyyaml"})


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copy_tree(tmp_path / "repo")


def test_a_lock_pinning_another_version_than_installed_refuses_the_build(tree: Path) -> None:
    lock = tree / service_lock_path("ingest")
    lock.write_text(re.sub(r"(?m)^cachetools==\S+", "cachetools==0.0.1", lock.read_text()))

    with pytest.raises(BundleError, match=r"pins cachetools 0\.0\.1, .* is installed; run `make setup`"):
        bundle_files(INGEST_BUNDLE, root=tree)


def test_a_requirement_the_service_does_not_declare_refuses_the_build() -> None:
    spec = replace(INGEST_BUNDLE, requires=(*INGEST_BUNDLE.requires, "httpx"))

    with pytest.raises(BundleError, match="luca-ingest does not declare httpx"):
        bundle_files(spec)


def test_another_service_in_the_closure_refuses_the_build(tree: Path) -> None:
    # GIVEN an ingest that (wrongly) declares the grading service, and a bundle that requires it
    pyproject = tree / "services/ingest/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = [\n", 'dependencies = [\n    "luca-grading",\n', 1)
    )
    spec = replace(INGEST_BUNDLE, requires=(*INGEST_BUNDLE.requires, "luca-grading"))

    with pytest.raises(BundleError, match="would hold another service"):
        bundle_files(spec, root=tree)


def test_the_bundle_follows_the_tree_it_is_given(tree: Path) -> None:
    handler = tree / "services/ingest/src/luca_ingest/entrypoints/handler.py"
    handler.write_text(handler.read_text() + "\n# edited in a copy\n")

    files = bundle_files(INGEST_BUNDLE, root=tree)

    assert files["luca_ingest/entrypoints/handler.py"] == handler
    assert sorted(files) == sorted(bundle_files(INGEST_BUNDLE))
    assert services(tree)["ingest"].directory == "services/ingest"
