"""The analytics path as deployed: stream → pipe (INSERT/MODIFY) → enrichment → Firehose → Parquet lake.

Expected values come from ``AnalyticsAwsDefinition``, the lake's schema (``lake_schema``, from the
contract) and the enrichment handler itself, so these tests fail when the CDK app drifts from what the
local pipeline and the query service use.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from luca_analytics.adapters import lake_schema
from luca_analytics.domain.lake import LAKE_CHANGES, PARTITION_KEYS
from luca_analytics.entrypoints import enrich
from luca_infra.aws.analytics import PARTITION_QUERY, firehose_prefix
from luca_infra.definitions import PLATFORM_DEFINITION

pytestmark = pytest.mark.infra

ANALYTICS = PLATFORM_DEFINITION.analytics_aws
STACK = "LucaAnalytics"


def _props(synthesized: Any, resource_type: str) -> dict[str, Any]:
    return synthesized.only(STACK, resource_type)[1]["Properties"]


def _logical_id(synthesized: Any, resource_type: str, **match: Any) -> str:
    for logical_id, resource in synthesized.resources(STACK, resource_type).items():
        if all(resource["Properties"].get(k) == v for k, v in match.items()):
            return logical_id
    raise AssertionError(f"no {resource_type} with {match}")


def _bucket_id(synthesized: Any, prefix: str) -> str:
    for logical_id, resource in synthesized.resources(STACK, "AWS::S3::Bucket").items():
        name = resource["Properties"].get("BucketName")
        if isinstance(name, dict) and name["Fn::Join"][1][0] == f"{prefix}-":
            return logical_id
    raise AssertionError(f"no bucket named {prefix}-…")


def _role_statements(synthesized: Any, role_id: str) -> list[dict[str, Any]]:
    statements = []
    for policy in synthesized.resources(STACK, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _role_of(synthesized: Any, principal: str) -> str:
    for logical_id, role in synthesized.resources(STACK, "AWS::IAM::Role").items():
        statement = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        if statement["Principal"].get("Service") == principal:
            return logical_id
    raise AssertionError(f"no role for {principal}")


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def _s3(synthesized: Any) -> dict[str, Any]:
    return _props(synthesized, "AWS::KinesisFirehose::DeliveryStream")["ExtendedS3DestinationConfiguration"]


# -- the pipe ----------------------------------------------------------------------------------------
def test_the_pipe_lets_only_inserts_and_modifies_through(synthesized: Any) -> None:
    pipe = _props(synthesized, "AWS::Pipes::Pipe")
    filters = pipe["SourceParameters"]["FilterCriteria"]["Filters"]

    assert len(filters) == 1
    pattern = json.loads(filters[0]["Pattern"])
    assert pattern == {"eventName": ["INSERT", "MODIFY"]}
    assert set(pattern["eventName"]) == set(LAKE_CHANGES)
    assert "REMOVE" not in filters[0]["Pattern"]


def test_the_pipe_reads_the_table_stream_in_batches_and_dead_letters_what_fails(synthesized: Any) -> None:
    pipe = _props(synthesized, "AWS::Pipes::Pipe")
    source = pipe["SourceParameters"]["DynamoDBStreamParameters"]

    assert "LucaData" in json.dumps(pipe["Source"])  # the table's stream, exported by the data stack
    assert source["StartingPosition"] == "LATEST"
    assert source["BatchSize"] == ANALYTICS.pipe_batch_size
    assert source["MaximumBatchingWindowInSeconds"] == ANALYTICS.pipe_max_batching_window_seconds
    assert source["MaximumRetryAttempts"] == ANALYTICS.pipe_max_retry_attempts
    dlq = _logical_id(synthesized, "AWS::SQS::Queue", QueueName=ANALYTICS.pipe_dlq_name)
    assert source["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq, "Arn"]}
    enrich_id = _logical_id(synthesized, "AWS::Lambda::Function", FunctionName=ANALYTICS.enrich_function_name)
    assert pipe["Enrichment"] == {"Fn::GetAtt": [enrich_id, "Arn"]}
    stream_id, _ = synthesized.only(STACK, "AWS::KinesisFirehose::DeliveryStream")
    assert pipe["Target"] == {"Fn::GetAtt": [stream_id, "Arn"]}


def test_the_enrichment_function_runs_the_handler_with_its_secret(synthesized: Any) -> None:
    function = synthesized.resources(STACK, "AWS::Lambda::Function")[
        _logical_id(synthesized, "AWS::Lambda::Function", FunctionName=ANALYTICS.enrich_function_name)
    ]["Properties"]
    secret_id, _ = synthesized.only(STACK, "AWS::SecretsManager::Secret")

    assert function["Handler"] == ANALYTICS.enrich_handler == f"{enrich.__name__}.handler"
    assert function["Runtime"] == ANALYTICS.runtime
    assert function["Environment"]["Variables"][enrich.KEY_SECRET_ENV] == {"Ref": secret_id}
    assert function["TracingConfig"] == {"Mode": "Active"}


# -- Firehose ----------------------------------------------------------------------------------------
def test_firehose_converts_to_parquet_against_the_glue_table(synthesized: Any) -> None:
    stream = _props(synthesized, "AWS::KinesisFirehose::DeliveryStream")
    conversion = _s3(synthesized)["DataFormatConversionConfiguration"]

    assert stream["DeliveryStreamType"] == "DirectPut"
    assert conversion["Enabled"] is True
    assert "OpenXJsonSerDe" in conversion["InputFormatConfiguration"]["Deserializer"]
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    schema = conversion["SchemaConfiguration"]
    assert (schema["DatabaseName"], schema["TableName"]) == (ANALYTICS.glue_database, ANALYTICS.glue_table)
    assert schema["VersionId"] == "LATEST"
    table = _props(synthesized, "AWS::Glue::Table")
    assert (table["DatabaseName"], table["TableInput"]["Name"]) == (
        schema["DatabaseName"],
        schema["TableName"],
    )
    assert _s3(synthesized)["CompressionFormat"] == "UNCOMPRESSED"  # Parquet compresses itself


def test_dynamic_partitioning_writes_the_lakes_partition_path(synthesized: Any) -> None:
    destination = _s3(synthesized)
    processors = destination["ProcessingConfiguration"]["Processors"]
    extraction = next(p for p in processors if p["Type"] == "MetadataExtraction")
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in extraction["Parameters"]}

    assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert (
        parameters["MetadataExtractionQuery"]
        == PARTITION_QUERY
        == "{school_id:.school_id, year:.year, month:.month}"
    )
    assert destination["Prefix"] == firehose_prefix()
    assert "!{firehose:error-output-type}" in destination["ErrorOutputPrefix"]
    assert destination["ErrorOutputPrefix"].startswith(ANALYTICS.error_output_prefix)

    # GIVEN a row as the enrichment function emits it, WHEN Firehose applies the JQ (a field lookup
    # per key) and substitutes the prefix, THEN the object lands under lake_schema.partition_path.
    row = enrich.lake_row(_sample_row())
    keys = {key: row[key] for key in PARTITION_KEYS}
    prefix = destination["Prefix"]
    for key, value in keys.items():
        prefix = prefix.replace(f"!{{partitionKeyFromQuery:{key}}}", str(value))
    assert prefix == f"{lake_schema.LAKE_PREFIX}/{lake_schema.partition_path('school-a', 2025, 3)}/"


def test_buffering_meets_dynamic_partitionings_minimum(synthesized: Any) -> None:
    hints = _s3(synthesized)["BufferingHints"]

    assert hints["SizeInMBs"] >= 64
    assert (hints["SizeInMBs"], hints["IntervalInSeconds"]) == (
        ANALYTICS.buffer_size_mib,
        ANALYTICS.buffer_interval_seconds,
    )


def test_firehose_logs_its_errors_and_encrypts(synthesized: Any) -> None:
    stream = _props(synthesized, "AWS::KinesisFirehose::DeliveryStream")
    destination = _s3(synthesized)
    key_id, _ = synthesized.only(STACK, "AWS::KMS::Key")

    assert destination["CloudWatchLoggingOptions"]["Enabled"] is True
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "AWS_OWNED_CMK"
    assert destination["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"] == {
        "Fn::GetAtt": [key_id, "Arn"]
    }


# -- Glue and Athena ---------------------------------------------------------------------------------
def test_the_glue_columns_are_the_lake_schemas(synthesized: Any) -> None:
    table = _props(synthesized, "AWS::Glue::Table")["TableInput"]

    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(c.name, c.glue) for c in lake_schema.data_columns()]
    partitions = [(c["Name"], c["Type"]) for c in table["PartitionKeys"]]
    assert partitions == [("school_id", "string"), ("year", "int"), ("month", "int")]
    assert partitions == [(c.name, c.glue) for c in lake_schema.partition_columns()]
    serde = table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    # Every column the enrichment emits is a table column or a partition key (nothing dropped silently).
    assert set(enrich.lake_row(_sample_row())) == {name for name, _ in columns + partitions}


def test_partition_projection_injects_the_school(synthesized: Any) -> None:
    parameters = _props(synthesized, "AWS::Glue::Table")["TableInput"]["Parameters"]
    lake = _bucket_id(synthesized, ANALYTICS.lake_bucket_prefix)

    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.school_id.type"] == "injected"
    assert parameters["projection.year.type"] == "integer"
    assert parameters["projection.month.type"] == "integer"
    assert parameters["projection.month.range"] == "1,12"
    assert parameters["projection.month.digits"] == "2"
    template = parameters["storage.location.template"]
    assert template == {
        "Fn::Join": [
            "",
            [
                "s3://",
                {"Ref": lake},
                f"/{lake_schema.LAKE_PREFIX}/school_id=${{school_id}}/year=${{year}}/month=${{month}}/",
            ],
        ]
    }


def test_the_workgroup_enforces_its_settings_and_a_scan_cutoff(synthesized: Any) -> None:
    workgroup = _props(synthesized, "AWS::Athena::WorkGroup")
    configuration = workgroup["WorkGroupConfiguration"]
    results = _bucket_id(synthesized, ANALYTICS.athena_results_bucket_prefix)

    assert workgroup["Name"] == ANALYTICS.workgroup_name
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert 0 < configuration["BytesScannedCutoffPerQuery"] == ANALYTICS.bytes_scanned_cutoff
    assert configuration["EngineVersion"]["SelectedEngineVersion"] == ANALYTICS.athena_engine_version
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert {"Ref": results} in configuration["ResultConfiguration"]["OutputLocation"]["Fn::Join"][1]


# -- storage -----------------------------------------------------------------------------------------
def test_the_lake_is_encrypted_versioned_and_never_expires(synthesized: Any) -> None:
    buckets = synthesized.resources(STACK, "AWS::S3::Bucket")
    lake = buckets[_bucket_id(synthesized, ANALYTICS.lake_bucket_prefix)]["Properties"]
    results = buckets[_bucket_id(synthesized, ANALYTICS.athena_results_bucket_prefix)]["Properties"]

    for bucket in (lake, results):
        encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert bucket["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
        assert "LoggingConfiguration" in bucket
    assert lake["VersioningConfiguration"] == {"Status": "Enabled"}
    for rule in lake["LifecycleConfiguration"]["Rules"]:
        assert "ExpirationInDays" not in rule  # the lake keeps everything
    transitions = lake["LifecycleConfiguration"]["Rules"][0]["Transitions"]
    assert transitions[0]["StorageClass"] == "INTELLIGENT_TIERING"
    assert (
        results["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]
        == ANALYTICS.athena_results_expiry_days
    )
    for policy in synthesized.resources(STACK, "AWS::S3::BucketPolicy").values():
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
    for queue in synthesized.resources(STACK, "AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


# -- least privilege ---------------------------------------------------------------------------------
def test_firehose_may_write_only_the_lake_prefixes_and_read_only_the_table(synthesized: Any) -> None:
    role = _role_of(synthesized, "firehose.amazonaws.com")
    lake = _bucket_id(synthesized, ANALYTICS.lake_bucket_prefix)
    statements = {s["Sid"]: s for s in _role_statements(synthesized, role)}

    assert set(statements) == {"LakeBucket", "LakeObjects", "LakeKey", "LakeSchema", "DeliveryErrors"}
    assert _resources(statements["LakeBucket"]) == [{"Fn::GetAtt": [lake, "Arn"]}]
    assert _resources(statements["LakeObjects"]) == [
        {"Fn::Join": ["", [{"Fn::GetAtt": [lake, "Arn"]}, f"/{lake_schema.LAKE_PREFIX}/*"]]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [lake, "Arn"]}, f"/{ANALYTICS.error_output_prefix}*"]]},
    ]
    assert "s3:DeleteObject" not in _actions(statements["LakeObjects"])
    assert set(_actions(statements["LakeSchema"])) == {
        "glue:GetTable",
        "glue:GetTableVersion",
        "glue:GetTableVersions",
    }
    glue = json.dumps(_resources(statements["LakeSchema"]))
    assert f"table/{ANALYTICS.glue_database}/{ANALYTICS.glue_table}" in glue
    assert "*" not in glue
    assert "kms:ViaService" in json.dumps(statements["LakeKey"]["Condition"])
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        assert all(not str(action).endswith("*") for action in _actions(statement))


def test_the_enrichment_function_may_read_only_its_secret(synthesized: Any) -> None:
    role = _role_of(synthesized, "lambda.amazonaws.com")
    secret_id, _ = synthesized.only(STACK, "AWS::SecretsManager::Secret")
    statements = _role_statements(synthesized, role)

    data_actions = [a for s in statements for a in _actions(s) if not a.startswith(("logs:", "xray:"))]
    assert data_actions == ["secretsmanager:GetSecretValue"]
    secret = next(s for s in statements if "secretsmanager:GetSecretValue" in _actions(s))
    assert _resources(secret) == [{"Ref": secret_id}]
    for statement in statements:
        if _resources(statement) == ["*"]:
            assert set(_actions(statement)) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_pipe_role_reaches_only_its_source_enrichment_target_and_dlq(synthesized: Any) -> None:
    role = _role_of(synthesized, "pipes.amazonaws.com")
    statements = {s["Sid"]: s for s in _role_statements(synthesized, role)}

    assert set(statements) == {"TableStream", "ListStreams", "Enrich", "Deliver", "DeadLetters"}
    assert set(_actions(statements["TableStream"])) == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    }
    assert set(_actions(statements["Deliver"])) == {"firehose:PutRecord", "firehose:PutRecordBatch"}
    for statement in statements.values():
        if "*" in _resources(statement):
            assert _actions(statement) == ["dynamodb:ListStreams"]


# -- alarms ------------------------------------------------------------------------------------------
def test_delivery_partition_and_dlq_alarms_page_the_ops_topic(synthesized: Any) -> None:
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synthesized.resources(STACK, "AWS::CloudWatch::Alarm").values()
    }

    assert set(alarms) == {
        ANALYTICS.delivery_alarm_name,
        ANALYTICS.partition_alarm_name,
        ANALYTICS.pipe_dlq_alarm_name,
    }
    for alarm in alarms.values():
        assert "LucaObservability" in json.dumps(alarm["AlarmActions"])
    partition = json.dumps(alarms[ANALYTICS.partition_alarm_name]["Metrics"])
    assert "PartitionCountExceeded" in partition
    assert alarms[ANALYTICS.partition_alarm_name]["Threshold"] < ANALYTICS.active_partitions_quota
    assert "DeliveryToS3.Success" in json.dumps(alarms[ANALYTICS.delivery_alarm_name]["Metrics"])


def _sample_row() -> Any:
    from datetime import UTC, datetime

    from luca_analytics.domain.lake import LakeRow

    when = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    return LakeRow(
        school_id="school-a",
        year=2025,
        month=3,
        item_type="evaluation",
        change="INSERT",
        changed_at=when,
        record_id="ev-1",
        student_key="k",
        course_id="1A",
        subject_id="math",
        term_id="2025-T1",
        score=5.5,
        weight=2.0,
        behavior_kind="",
        passing=None,
        occurred_at=when,
        source_schema_version=1,
    )
