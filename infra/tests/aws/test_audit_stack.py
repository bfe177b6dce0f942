"""LucaAudit: one CloudTrail trail with management events and data events on the table, the lake and
the manifests, to an encrypted, versioned, access-logged, TLS-only bucket and to CloudWatch Logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from luca_infra.definitions import PLATFORM_DEFINITION

pytestmark = pytest.mark.infra

DEFINITION = PLATFORM_DEFINITION
STACK = "LucaAudit"


@pytest.fixture(scope="module")
def trail(synthesized: Any) -> dict[str, Any]:
    _, resource = synthesized.only(STACK, "AWS::CloudTrail::Trail")
    properties: dict[str, Any] = resource["Properties"]
    return properties


def _selectors(trail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        selector["Name"]: {f["Field"]: f for f in selector["FieldSelectors"]}
        for selector in trail["AdvancedEventSelectors"]
    }


def _export_of(synthesized: Any, import_value: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The stack and the resource behind an ``Fn::ImportValue``."""
    name = import_value["Fn::ImportValue"]
    stack = name.split(":", 1)[0]
    (value,) = [
        output["Value"]
        for output in synthesized.templates[stack]["Outputs"].values()
        if output.get("Export", {}).get("Name") == name
    ]
    logical_id = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
    return stack, synthesized.templates[stack]["Resources"][logical_id]


def test_trail_logs_management_events_everywhere_and_validates_its_files(trail: dict[str, Any]) -> None:
    assert trail["TrailName"] == DEFINITION.trail_name
    assert trail["IsLogging"] is True
    assert trail["EnableLogFileValidation"] is True
    assert trail["IsMultiRegionTrail"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    assert "EventSelectors" not in trail, "basic and advanced selectors cannot be mixed"
    management = _selectors(trail)["Management events"]
    assert management == {"eventCategory": {"Field": "eventCategory", "Equals": ["Management"]}}


def test_data_events_on_the_table(synthesized: Any, trail: dict[str, Any]) -> None:
    table = _selectors(trail)["Platform table data events"]
    assert table["eventCategory"]["Equals"] == ["Data"]
    assert table["resources.type"]["Equals"] == ["AWS::DynamoDB::Table"]
    (arn,) = table["resources.ARN"]["Equals"]
    stack, resource = _export_of(synthesized, arn)
    assert stack == "LucaData"
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert resource["Properties"]["TableName"] == DEFINITION.table.name


def test_data_events_on_the_lake_and_manifest_objects(synthesized: Any, trail: dict[str, Any]) -> None:
    objects = _selectors(trail)["Lake and manifest object data events"]
    assert objects["eventCategory"]["Equals"] == ["Data"]
    assert objects["resources.type"]["Equals"] == ["AWS::S3::Object"]
    prefixes = objects["resources.ARN"]["StartsWith"]
    buckets = {}
    for prefix in prefixes:
        import_value, slash = prefix["Fn::Join"][1]
        assert slash == "/"
        stack, resource = _export_of(synthesized, import_value)
        assert resource["Type"] == "AWS::S3::Bucket"
        buckets[stack] = json.dumps(resource["Properties"]["BucketName"])
    assert set(buckets) == {"LucaAnalytics", "LucaGovSync"}
    assert DEFINITION.analytics_aws.lake_bucket_prefix in buckets["LucaAnalytics"]
    assert DEFINITION.govsync.manifest_bucket_prefix in buckets["LucaGovSync"]


def test_the_log_bucket_is_encrypted_versioned_access_logged_and_private(
    synthesized: Any, trail: dict[str, Any]
) -> None:
    resources = synthesized.templates[STACK]["Resources"]
    bucket_id = trail["S3BucketName"]["Ref"]
    bucket = resources[bucket_id]["Properties"]
    assert bucket["BucketName"]["Fn::Join"][1][0] == f"{DEFINITION.trail_bucket_prefix}-"
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key_id = rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    assert resources[key_id]["Properties"]["EnableKeyRotation"] is True
    assert trail["KMSKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "DestinationBucketName" in bucket["LoggingConfiguration"]
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (statements,) = policies
    denies_http = [
        s
        for s in statements
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert denies_http
    cloudtrail_writes = [
        s for s in statements if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}
    ]
    assert {s["Action"] for s in cloudtrail_writes} == {"s3:GetBucketAcl", "s3:PutObject"}


def test_events_also_go_to_a_log_group_with_retention(synthesized: Any, trail: dict[str, Any]) -> None:
    resources = synthesized.templates[STACK]["Resources"]
    group = resources[trail["CloudWatchLogsLogGroupArn"]["Fn::GetAtt"][0]]
    assert group["Properties"]["LogGroupName"] == DEFINITION.trail_log_group
    assert group["Properties"]["RetentionInDays"] == 365
    role = resources[trail["CloudWatchLogsRoleArn"]["Fn::GetAtt"][0]]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "cloudtrail.amazonaws.com"
    }


def test_the_key_serves_this_trail_only(synthesized: Any, trail: dict[str, Any]) -> None:
    resources = synthesized.templates[STACK]["Resources"]
    key = resources[trail["KMSKeyId"]["Fn::GetAtt"][0]]["Properties"]
    (encrypts,) = [s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudTrailEncrypts"]
    assert encrypts["Action"] == "kms:GenerateDataKey*"
    source = json.dumps(encrypts["Condition"]["StringEquals"]["aws:SourceArn"])
    assert f":trail/{DEFINITION.trail_name}" in source
