"""``luca schools`` against a stage, with the emulator as the stage (as ``test_stage_tools`` does).

The emulator is provisioned like a stage (the platform's provisioning and lifecycle resources, names
of this test's own) and its document published; the CLI then runs with only AWS_ENDPOINT_URL
pointing at it. Each test creates schools of its own (the user pool and API keys are shared by the
session's emulator), seeds data into them, and checks what the commands leave behind.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from luca_govsync.entrypoints.operations import sync_partition_key
from luca_grading.bootstrap import bootstrap
from luca_grading.config import GradingSettings
from luca_grading.entrypoints.rest import create_app
from luca_infra import stage_resources
from luca_infra.cli import main
from luca_infra.definitions import PlatformDefinition, TableDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.provision import ProvisionedResources, lifecycle_resources, provision
from luca_infra.schools.edge import SchoolEdge
from luca_infra.schools.manifest import Manifest
from luca_infra.schools.record import record_pk
from luca_platform.contracts.exercise_results import EXERCISE_SK_PREFIX
from luca_platform.contracts.grades import school_term_pk
from luca_platform.contracts.roster import catalog_pk, student_pk
from luca_platform.contracts.rules import rules_pk
from luca_platform.school_keys import api_key_name, api_key_value, usage_plan_name
from luca_platform.table import keys

pytestmark = pytest.mark.emulator
PASSWORD = "Luca-test-2025!"
TERM = "2025-T1"


@dataclass
class Stage:
    name: str
    resources: ProvisionedResources
    document: stage_resources.StageResources
    definition: PlatformDefinition
    emulator: Emulator

    def client(self, service: str) -> Any:
        session: Any = boto3.session.Session(region_name=self.emulator.region)
        return session.client(service, endpoint_url=self.emulator.url)

    def scan(self, school: str) -> list[dict[str, Any]]:
        """Every item of the school, found by a scan (the emulator's own credentials: a test's look)."""
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.document.table_name,
            "FilterExpression": "begins_with(PK, :p)",
            "ExpressionAttributeValues": {":p": {"S": keys.school_prefix(school)}},
        }
        while True:
            page = self.client("dynamodb").scan(**request)
            found.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put(self, item: dict[str, Any]) -> None:
        wire = {
            name: {"N": str(value)} if isinstance(value, int) else {"S": value}
            for name, value in item.items()
        }
        self.client("dynamodb").put_item(TableName=self.document.table_name, Item=wire)

    def users(self, school: str) -> list[dict[str, Any]]:
        users = self.client("cognito-idp").list_users(UserPoolId=self.resources.user_pool_id)["Users"]
        return sorted(
            (
                {
                    "username": u["Username"],
                    "attributes": sorted((a["Name"], a["Value"]) for a in u["Attributes"]),
                }
                for u in users
                if {"Name": "custom:school_id", "Value": school} in u["Attributes"]
            ),
            key=lambda u: u["username"],
        )

    def lake(self, school: str) -> dict[str, bytes]:
        s3 = self.client("s3")
        listed = s3.list_object_versions(
            Bucket=self.document.lake_bucket, Prefix=f"lake/grades/school_id={school}/"
        )
        return {
            f"{v['Key']}@{v['VersionId']}": s3.get_object(
                Bucket=self.document.lake_bucket, Key=v["Key"], VersionId=v["VersionId"]
            )["Body"].read()
            for v in listed.get("Versions", [])
        }

    def snapshot(self, school: str) -> dict[str, Any]:
        return {"items": self.scan(school), "users": self.users(school), "lake": self.lake(school)}


@pytest.fixture
def stage(
    emulator: Emulator, definition: PlatformDefinition, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Stage:
    suffix = uuid.uuid4().hex[:10]
    definition = replace(
        definition,
        table=TableDefinition(name=f"luca-schools-{suffix}"),
        tenant_audit_log_group=f"/luca/audit/tenant-lifecycle-{suffix}",
    )
    resources = provision(emulator.url, definition=definition)
    lifecycle = lifecycle_resources(emulator.url, definition=definition)
    client: Any = boto3.session.Session(region_name=emulator.region)
    sfn = client.client("stepfunctions", endpoint_url=emulator.url)
    machine = sfn.create_state_machine(
        name=f"government-sync-{suffix}",
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
        ),
        roleArn=f"arn:aws:iam::123456789012:role/sync-{suffix}",
    )["stateMachineArn"]
    lake = f"lake-{suffix}"
    client.client("s3", endpoint_url=emulator.url).create_bucket(Bucket=lake)
    name = f"staging-{suffix}"
    document = stage_resources.StageResources(
        stage=name,
        region=emulator.region,
        table_name=resources.table_name,
        tenant_role_arn=resources.tenant_role_arn,
        events_queue_url=resources.events_queue_url,
        events_dlq_url=resources.events_dlq_url,
        govsync_state_machine_arn=machine,
        govsync_dlq_url="",
        govsync_manifest_bucket="",
        lake_bucket=lake,
        user_pool_id=resources.user_pool_id,
        alerts_topic_arn=lifecycle.alerts_topic_arn,
        log_groups={stage_resources.LOG_TENANT_AUDIT: lifecycle.audit_log_group},
    )
    stage_resources.publish(client.client("ssm", endpoint_url=emulator.url), document)
    for variable, value in {
        "AWS_ENDPOINT_URL": emulator.url,
        "AWS_REGION": emulator.region,
        "AWS_DEFAULT_REGION": emulator.region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)
    return Stage(name, resources, document, definition, emulator)


def new_school() -> str:
    return f"school-{uuid.uuid4().hex[:8]}"


def create(stage: Stage, school: str, *extra: str, name: str = "Liceo de prueba") -> int:
    return main(
        ["schools", "create", school, "--name", name, "--enrolment", "250", "--admin-email",
         f"admin@{school}.example", *extra, "--stage", stage.name]
    )  # fmt: skip


def seed(stage: Stage, school: str, students: tuple[str, ...] = ("st-1", "st-2")) -> None:
    """A school's data in every kind of partition the export must find, and lake rows and users."""
    s = school
    stage.put(
        {
            "PK": catalog_pk(s),
            "SK": "COURSE#1A",
            "type": "Course",
            "school_id": s,
            "course_id": "1A",
            "name": "1A",
        }
    )
    stage.put(
        {
            "PK": catalog_pk(s),
            "SK": f"TERM#{TERM}",
            "type": "Term",
            "school_id": s,
            "term_id": TERM,
            "name": "T1",
        }
    )
    stage.put(
        {
            "PK": catalog_pk(s),
            "SK": "SUBJECT#math",
            "type": "Subject",
            "school_id": s,
            "subject_id": "math",
            "name": "M",
        }
    )
    stage.put(
        {"PK": f"SCHOOL#{s}#TEACHER#tch-1", "SK": "ASSIGN#1A#math", "GSI1PK": f"SCHOOL#{s}#COURSE#1A",
         "GSI1SK": "TEACHER#tch-1#math", "type": "Assignment", "school_id": s}
    )  # fmt: skip
    for number, student in enumerate(students):
        stage.put(
            {"PK": student_pk(s, student), "SK": "STUDENT", "GSI1PK": f"SCHOOL#{s}#COURSE#1A",
             "GSI1SK": f"STUDENT#{student}", "type": "Student", "school_id": s, "student_id": student}
        )  # fmt: skip
        stage.put(
            {"PK": student_pk(s, student), "SK": f"EVAL#{TERM}#math#2025-03-01T10:00:00Z#ev{number}",
             "GSI2PK": school_term_pk(s, TERM), "GSI2SK": f"STUDENT#{student}#ev{number}",
             "type": "Evaluation", "school_id": s, "student_id": student, "score": "6.5"}
        )  # fmt: skip
        stage.put({"PK": student_pk(s, student), "SK": f"{EXERCISE_SK_PREFIX}e{number}", "type": "ExerciseResult",
                   "school_id": s, "student_id": student})  # fmt: skip
    # A student known only from practice results and a user (no roster item, no grade).
    stage.put({"PK": student_pk(s, "st-app"), "SK": f"{EXERCISE_SK_PREFIX}x", "type": "ExerciseResult",
               "school_id": s, "student_id": "st-app"})  # fmt: skip
    # A rule for a subject no grade here uses (a bare item, not one the grading service could read).
    stage.put({"PK": rules_pk(s), "SK": "SUBJECT#art", "type": "GradingRule", "school_id": s})
    stage.put({"PK": sync_partition_key(s, TERM), "SK": "RUN#sync-1", "type": "GovSyncRun", "school_id": s})
    cognito = stage.client("cognito-idp")
    for username, attributes in (
        (f"{s}-student", {"custom:school_id": s, "custom:student_id": "st-app"}),
        (f"{s}-teacher", {"custom:school_id": s}),
    ):
        cognito.admin_create_user(
            UserPoolId=stage.resources.user_pool_id,
            Username=username,
            UserAttributes=[{"Name": k, "Value": v} for k, v in attributes.items()],
            MessageAction="SUPPRESS",
        )
    s3 = stage.client("s3")
    for month in ("03", "04"):
        key = f"lake/grades/school_id={s}/year=2025/month={month}/part-{month}.parquet"
        s3.put_object(Bucket=stage.document.lake_bucket, Key=key, Body=f"rows of {s} {month}".encode())


def exported(stage: Stage, school: str, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / f"export-{school}-{uuid.uuid4().hex[:6]}"
    assert main(["schools", "export", school, "--out", str(out), *extra, "--stage", stage.name]) == 0
    return out / "manifest.json"


# -- create --------------------------------------------------------------------------------------------
def test_create_sets_up_the_school_everywhere_and_a_teacher_can_record_a_grade(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    school = new_school()

    assert create(stage, school) == 0

    items = {item["SK"]["S"]: item for item in stage.scan(school)}
    record = items["PROFILE"]
    assert record["PK"]["S"] == record_pk(school)
    assert (record["tier"]["S"], record["status"]["S"]) == ("small", "active")  # 250 students
    assert items["SUBJECT#*"]["scale"]["S"] == "chilean"  # the default rule, as the demo schools get it
    cognito = stage.client("cognito-idp")
    admin = cognito.admin_get_user(UserPoolId=stage.resources.user_pool_id, Username=f"{school}-admin")
    assert {"Name": "custom:school_id", "Value": school} in admin["UserAttributes"]
    groups = cognito.admin_list_groups_for_user(
        UserPoolId=stage.resources.user_pool_id, Username=f"{school}-admin"
    )
    assert [g["GroupName"] for g in groups["Groups"]] == ["admins"]
    apigateway = stage.client("apigateway")
    (key,) = apigateway.get_api_keys(nameQuery=api_key_name(school), includeValues=True)["items"]
    assert key["value"] == api_key_value(school)
    assert SchoolEdge(apigateway, stage.definition.throttling).tier_of(school) == "small"
    plans = {p["name"]: p for p in apigateway.get_usage_plans()["items"]}
    assert plans[usage_plan_name("small")]["throttle"] == {"rateLimit": 50.0, "burstLimit": 100}
    (alarm,) = stage.client("cloudwatch").describe_alarms(AlarmNames=[f"Luca-P95-Latency-Alert-{school}"])[
        "MetricAlarms"
    ]
    assert alarm["AlarmActions"] == [stage.document.alerts_topic_arn]
    schools = stage.client("ssm").get_parameter(Name=stage.definition.govsync.schools_parameter)["Parameter"]
    assert school in schools["Value"].split(",")

    # The school's first admin signs in, sets the school up, and its teacher records a grade.
    teacher_records_grades(stage, school)


def teacher_records_grades(stage: Stage, school: str) -> None:
    """The school's first admin sets it up through the grading API and a teacher records a grade (with
    an idempotency key, so the service writes an idempotency record too)."""
    cognito = stage.client("cognito-idp")
    cognito.admin_set_user_password(
        UserPoolId=stage.resources.user_pool_id, Username=f"{school}-admin", Password=PASSWORD, Permanent=True
    )
    with contextlib.suppress(cognito.exceptions.UsernameExistsException):  # seed() may have made it
        cognito.admin_create_user(
            UserPoolId=stage.resources.user_pool_id,
            Username=f"{school}-teacher",
            UserAttributes=[{"Name": "custom:school_id", "Value": school}],
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(
        UserPoolId=stage.resources.user_pool_id,
        Username=f"{school}-teacher",
        Password=PASSWORD,
        Permanent=True,
    )
    cognito.admin_add_user_to_group(
        UserPoolId=stage.resources.user_pool_id, Username=f"{school}-teacher", GroupName="teachers"
    )
    with grading(stage) as rest:
        admin_headers = {"Authorization": f"Bearer {token(stage, f'{school}-admin')}"}
        for path, body in (
            ("/v1/courses/1A", {"name": "Primero A"}),
            ("/v1/subjects/math", {"name": "Matemática"}),
            ("/v1/students/st-1", {"course_id": "1A", "display_name": "Ana"}),
            (f"/v1/terms/{TERM}", {"name": "T1"}),
            (f"/v1/teachers/{school}-teacher/assignments/1A/math", {}),
        ):
            assert rest.put(path, headers=admin_headers, json=body).status_code < 300, path
        teacher = {
            "Authorization": f"Bearer {token(stage, f'{school}-teacher')}",
            "Idempotency-Key": "grade-key-0001",
        }
        body = {
            "student_id": "st-1",
            "course_id": "1A",
            "subject_id": "math",
            "term_id": TERM,
            "score": "6.5",
        }
        recorded = rest.post("/v1/evaluations", headers=teacher, json=body)
        assert recorded.status_code == 201, recorded.text
        out_of_scale = rest.post(
            "/v1/evaluations",
            headers=teacher | {"Idempotency-Key": "grade-key-0002"},
            json=body | {"score": "75"},
        )
        assert out_of_scale.status_code == 422  # graded with the default (Chilean 1-7) rule
        # A behaviour note keeps an idempotency record (a grade is its own, at an id from its key).
        note = rest.post(
            "/v1/behavior-notes",
            headers=teacher | {"Idempotency-Key": "note-key-0001"},
            json={
                "student_id": "st-1",
                "course_id": "1A",
                "kind": "positive",
                "text": "Ayudó a un compañero",
            },
        )
        assert note.status_code == 201, note.text


def test_create_again_finishes_or_confirms_and_refuses_another_school_under_the_id(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    school = new_school()
    assert create(stage, school) == 0
    # Half-done: the key and the alarm gone, the record still "creating".
    SchoolEdge(stage.client("apigateway"), stage.definition.throttling).remove(school)
    stage.client("cloudwatch").delete_alarms(AlarmNames=[f"Luca-P95-Latency-Alert-{school}"])
    stage.client("dynamodb").update_item(
        TableName=stage.document.table_name,
        Key={"PK": {"S": record_pk(school)}, "SK": {"S": "PROFILE"}},
        UpdateExpression="SET #s = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": {"S": "creating"}},
    )
    capsys.readouterr()

    assert create(stage, school) == 0

    assert "finished" in capsys.readouterr().out
    assert SchoolEdge(stage.client("apigateway"), stage.definition.throttling).tier_of(school) == "small"
    assert stage.client("cloudwatch").describe_alarms(AlarmNames=[f"Luca-P95-Latency-Alert-{school}"])[
        "MetricAlarms"
    ]
    assert {i["SK"]["S"]: i for i in stage.scan(school)}["PROFILE"]["status"]["S"] == "active"
    assert create(stage, school, name="Otro colegio") == 2
    assert "exists as another school" in capsys.readouterr().err
    assert create(stage, "School_A") == 2  # the kernel's school id rules
    assert create(stage, new_school(), "--tier", "huge") == 2


# -- export ----------------------------------------------------------------------------------------
def test_export_holds_all_of_the_school_and_nothing_of_another(stage: Stage, tmp_path: Path) -> None:
    school, other = new_school(), new_school()
    for s in (school, other):
        assert create(stage, s) == 0
        seed(stage, s)

    manifest_path = exported(stage, school, tmp_path)

    manifest = Manifest.read(manifest_path)
    root = manifest_path.parent
    assert (manifest.school_id, manifest.stage, manifest.student_id) == (school, stage.name, None)
    assert manifest.problems(root) == []
    lines = (root / "table/items.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    expected = stage.scan(school)
    assert sorted((i["PK"]["S"], i["SK"]["S"]) for i in items) == [
        (i["PK"]["S"], i["SK"]["S"]) for i in expected
    ]
    assert manifest.counts["table_items"] == len(expected)
    users = [json.loads(line) for line in (root / "users.jsonl").read_text().splitlines()]
    assert sorted(u["username"] for u in users) == sorted(u["username"] for u in stage.users(school))
    lake_files = sorted(str(p.relative_to(root)) for p in (root / "lake").rglob("*") if p.is_file())
    assert len(lake_files) == 2
    assert manifest.counts["lake_objects"] == 2
    # No id of the other school anywhere in any file.
    for path in root.rglob("*"):
        if path.is_file():
            assert other.encode() not in path.read_bytes(), path
    for item in items:
        assert item["PK"]["S"].startswith(f"SCHOOL#{school}#")
        assert item["school_id"]["S"] == school
    assert all(u["attributes"]["custom:school_id"] == school for u in users)
    assert all(f"school_id={school}/" in name for name in lake_files)


def test_export_of_one_student_holds_only_that_student(stage: Stage, tmp_path: Path) -> None:
    school = new_school()
    assert create(stage, school) == 0
    seed(stage, school)

    manifest_path = exported(stage, school, tmp_path, "--student", "st-app")

    manifest = Manifest.read(manifest_path)
    root = manifest_path.parent
    items = [json.loads(line) for line in (root / "table/items.jsonl").read_text().splitlines()]
    assert items
    assert {i["PK"]["S"] for i in items} == {student_pk(school, "st-app")}
    users = [json.loads(line) for line in (root / "users.jsonl").read_text().splitlines()]
    assert [u["username"] for u in users] == [f"{school}-student"]
    assert not (root / "lake").exists()
    assert manifest.student_id == "st-app"
    for path in root.rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            assert b"st-1" not in path.read_bytes()
            assert b"st-2" not in path.read_bytes()


# -- delete ----------------------------------------------------------------------------------------
def test_delete_refuses_without_a_valid_export(
    stage: Stage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    school, other = new_school(), new_school()
    for s in (school, other):
        assert create(stage, s) == 0
        seed(stage, s)
    before = stage.snapshot(school)

    def delete(manifest: Path) -> int:
        return main(
            ["schools", "delete", school, "--export-manifest", str(manifest), "--yes", "--stage", stage.name]
        )

    assert delete(tmp_path / "nowhere.json") == 2
    assert delete(exported(stage, other, tmp_path)) == 2  # another school's export
    assert delete(exported(stage, school, tmp_path, "--student", "st-1")) == 2  # one student's
    tampered = exported(stage, school, tmp_path)
    (tampered.parent / "users.jsonl").write_text("{}\n")
    assert delete(tampered) == 2
    stale = exported(stage, school, tmp_path)
    stage.put(
        {"PK": student_pk(school, "st-1"), "SK": "NOTE#late", "type": "BehaviorNote", "school_id": school}
    )
    assert delete(stale) == 2  # written since the export
    assert "export it again" in capsys.readouterr().err
    stage.client("dynamodb").delete_item(
        TableName=stage.document.table_name,
        Key={"PK": {"S": student_pk(school, "st-1")}, "SK": {"S": "NOTE#late"}},
    )
    assert stage.snapshot(school) == before


def test_delete_refuses_while_a_sync_of_the_school_runs(
    stage: Stage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    school = new_school()
    assert create(stage, school) == 0
    seed(stage, school)
    manifest = exported(stage, school, tmp_path)
    sfn = stage.client("stepfunctions")
    running = sfn.start_execution(
        stateMachineArn=stage.document.govsync_state_machine_arn,
        name=f"govsync-{school}-{TERM}",
        input=json.dumps({"mode": "sync", "school_id": school, "period": TERM}),
    )["executionArn"]
    command = [
        "schools",
        "delete",
        school,
        "--export-manifest",
        str(manifest),
        "--yes",
        "--stage",
        stage.name,
    ]

    assert main(command) == 2
    assert "government sync" in capsys.readouterr().err
    assert stage.scan(school)
    sfn.stop_execution(executionArn=running)
    assert main(command) == 0


def test_after_delete_nothing_of_the_school_remains_and_the_other_is_unchanged(
    stage: Stage, tmp_path: Path
) -> None:
    school, other = new_school(), new_school()
    for s in (school, other):
        assert create(stage, s) == 0
        seed(stage, s)
    # Written by the service itself: a grade, a note and the note's idempotency record, which
    # nothing in the school's partitions points at.
    teacher_records_grades(stage, school)
    assert [i for i in stage.scan(school) if i["type"]["S"] == "Idempotency"]
    other_before = stage.snapshot(other)
    manifest = exported(stage, school, tmp_path)

    code = main(
        ["schools", "delete", school, "--export-manifest", str(manifest), "--yes", "--stage", stage.name]
    )

    assert code == 0
    assert stage.scan(school) == []
    every = stage.client("dynamodb").scan(TableName=stage.document.table_name)["Items"]
    assert not [i for i in every if school in json.dumps(i)]
    s3 = stage.client("s3")
    listed = s3.list_object_versions(Bucket=stage.document.lake_bucket)
    assert not [
        v for v in (*listed.get("Versions", []), *listed.get("DeleteMarkers", [])) if school in v["Key"]
    ]
    assert stage.users(school) == []
    assert stage.client("apigateway").get_api_keys(nameQuery=api_key_name(school))["items"] == []
    alarms = stage.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert not [a for a in alarms if school in a["AlarmName"]]
    schools = stage.client("ssm").get_parameter(Name=stage.definition.govsync.schools_parameter)["Parameter"]
    assert school not in schools["Value"].split(",")
    assert stage.snapshot(other) == other_before
    # The erasure's audit record outlives the school, outside its keys.
    assert main(["schools", "audit", "--school", school, "--stage", stage.name]) == 0
    events = stage.client("logs").filter_log_events(logGroupName=stage.definition.tenant_audit_log_group)[
        "events"
    ]
    actions = [json.loads(e["message"])["action"] for e in events if school in e["message"]]
    assert sorted(actions) == ["create", "delete", "export"]


# -- helpers: the grading service in-process, real Cognito tokens ----------------------------------------
@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUCA_TABLE_NAME", raising=False)


def token(stage: Stage, username: str) -> str:
    answer = stage.client("cognito-idp").admin_initiate_auth(
        UserPoolId=stage.resources.user_pool_id,
        ClientId=stage.resources.user_pool_client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )
    return str(answer["AuthenticationResult"]["IdToken"])


class grading:
    def __init__(self, stage: Stage) -> None:
        resources = stage.resources
        self.settings = GradingSettings(
            aws_region=resources.region,
            aws_endpoint_url=resources.endpoint_url,
            table_name=resources.table_name,
            user_pool_id=resources.user_pool_id,
            user_pool_client_id=resources.user_pool_client_id,
            jwks_url=resources.jwks_url,
            tenant_role_arn=resources.tenant_role_arn,
            cursor_keys=secrets.token_urlsafe(48),
        )

    def __enter__(self) -> TestClient:
        self._client = TestClient(create_app(bootstrap(self.settings)))
        return self._client.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._client.__exit__(*exc)
