"""The app passes cdk-nag (AwsSolutions) and cfn-lint, and synthesizes with no AWS account.

- Every cdk-nag finding is fixed or acknowledged with a reason; synthesis itself fails otherwise
  (``test_an_unacknowledged_finding_fails_synthesis`` proves that mechanism on a small app).
- Acknowledgements are a reviewed list: adding one means adding it to ``ACKNOWLEDGED`` below, with
  the reason in the code next to the resource. A finding that names a resource by its logical id
  is written with a placeholder (``{manifests}``), filled in from the synthesized template.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks

from luca_analytics.definition import LAKE_PREFIX
from luca_infra.aws.nag import acknowledge, enable_checks
from luca_infra.aws.operations import log_groups
from luca_infra.definitions import PLATFORM_DEFINITION

pytestmark = pytest.mark.infra

TABLE = PLATFORM_DEFINITION.table.name
GOVSYNC = PLATFORM_DEFINITION.govsync
ANALYTICS = PLATFORM_DEFINITION.analytics_aws
NAMED_TABLE_INDEXES = f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/{TABLE}/index/*]"
# DescribeExecution on the government sync's executions (their names are per school and period): the
# starter in LucaGovSync and the sync's gRPC API in LucaGovSyncApi both need it.
GOVSYNC_EXECUTIONS = f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{GOVSYNC.state_machine_name}:*]"
ACKNOWLEDGED: dict[str, set[str]] = {
    # The tenant role: every index of the table, confined by dynamodb:LeadingKeys.
    "LucaData": {NAMED_TABLE_INDEXES},
    "LucaIdentity": {"AwsSolutions-COG2"},
    # The load balancer's access-log bucket.
    "LucaNetwork": {"AwsSolutions-S1"},
    # Each Fargate service: X-Ray for the sidecar (task role) and ECR's token (execution role), and a
    # plain environment of names and ports.
    "LucaGrading": {"AwsSolutions-IAM5[Resource::*]", "AwsSolutions-ECS2", "AwsSolutions-SMG4"},
    "LucaGovSyncApi": {"AwsSolutions-IAM5[Resource::*]", "AwsSolutions-ECS2", GOVSYNC_EXECUTIONS},
    "LucaAnalyticsApi": {
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-ECS2",
        # The query service's task role: the lake's grades prefix (read) and Athena's results.
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{ANALYTICS.lake_bucket_prefix}-<AWS::AccountId>-<AWS::Region>/{LAKE_PREFIX}/*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{ANALYTICS.athena_results_bucket_prefix}-<AWS::AccountId>-<AWS::Region>/*]",
    },
    "LucaEdge": {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        # The REQUEST authorizer replaces the Cognito one (it verifies the same tokens and names the
        # school's usage-plan key); X-Ray's writes have no resource-level permissions.
        "AwsSolutions-COG4",
        "AwsSolutions-IAM5[Resource::*]",
    },
    "LucaObservability": set(),
    # The trail bucket's access-log bucket.
    "LucaAudit": {"AwsSolutions-S1"},
    # The operator role: X-Ray and Logs Insights reads (no resource-level permissions), the sync's
    # executions, the lake's objects and the runbooks' log groups' streams.
    "LucaOperations": {
        "AwsSolutions-IAM5[Resource::*]",
        GOVSYNC_EXECUTIONS,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{ANALYTICS.lake_bucket_prefix}-<AWS::AccountId>-<AWS::Region>/*]",
        *(
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{group}:*]"
            for group in log_groups(PLATFORM_DEFINITION).values()
        ),
        # luca schools: keys and plan keys (addressed by ids), the per-school alarms, the lake's rows.
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/usageplans/*/keys]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/usageplans/*/keys/*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:"
        f"{PLATFORM_DEFINITION.latency_alarm_prefix}-*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{ANALYTICS.lake_bucket_prefix}-<AWS::AccountId>-"
        f"<AWS::Region>/{LAKE_PREFIX}/*]",
    },
    "LucaIngest": {"AwsSolutions-L1", "AwsSolutions-IAM5[Resource::*]"},
    "LucaGovSync": {
        "AwsSolutions-L1",
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::<{manifests}.Arn>/*]",
        GOVSYNC_EXECUTIONS,
        "AwsSolutions-S1",
        "AwsSolutions-SMG4",
        "AwsSolutions-SQS3",
    },
    "LucaAnalytics": {
        "AwsSolutions-L1",
        "AwsSolutions-IAM5[Resource::*]",
        f"AwsSolutions-IAM5[Resource::<{{lake}}.Arn>/{LAKE_PREFIX}/*]",
        f"AwsSolutions-IAM5[Resource::<{{lake}}.Arn>/{ANALYTICS.error_output_prefix}*]",
        "AwsSolutions-S1",
        "AwsSolutions-SMG4",
        "AwsSolutions-SQS3",
    },
}


def test_no_unacknowledged_findings(synthesized: Any) -> None:
    report = AwsSolutionsChecks().validate_scope(synthesized.app)
    findings = [
        f"{violation.rule_name} at {[r.construct_path for r in violation.violating_resources]}"
        for violation in report.violations
    ]
    assert report.success, findings


def _acknowledgements(template: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for resource in template["Resources"].values():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            # CDK's own constructs acknowledge some of its built-in template checks; only ours count.
            if rule["id"].startswith("AwsSolutions-"):
                found[rule["id"]] = rule["reason"]
    return found


def _logical_ids(template: dict[str, Any]) -> dict[str, str]:
    """The placeholders ``ACKNOWLEDGED`` may use: resources named by their (hashed) logical id."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        name = resource["Properties"].get("BucketName") if resource["Type"] == "AWS::S3::Bucket" else None
        if (
            isinstance(name, dict)
            and name.get("Fn::Join", ["", [""]])[1][0] == f"{GOVSYNC.manifest_bucket_prefix}-"
        ):
            found["manifests"] = logical_id
        if (
            isinstance(name, dict)
            and name.get("Fn::Join", ["", [""]])[1][0] == f"{ANALYTICS.lake_bucket_prefix}-"
        ):
            found["lake"] = logical_id
    return found


@pytest.mark.parametrize("stack", sorted(ACKNOWLEDGED))
def test_acknowledgements_are_the_reviewed_ones_and_say_why(synthesized: Any, stack: str) -> None:
    template = synthesized.templates[stack]
    acknowledged = _acknowledgements(template)
    ids = _logical_ids(template)
    assert set(acknowledged) == {rule.format(**ids) if "{" in rule else rule for rule in ACKNOWLEDGED[stack]}
    for rule, reason in acknowledged.items():
        assert len(reason.split()) >= 12, f"{rule}: the reason must explain itself: {reason!r}"


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Canary")
    sns.Topic(stack, "Plain")  # no encryption, no SSL-only policy: AwsSolutions-SNS2 / SNS3
    enable_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    assert "AwsSolutions-SNS3" in json.dumps(report)


def test_acknowledging_needs_a_reason() -> None:
    stack = cdk.Stack(cdk.App(), "Reasonless")
    with pytest.raises(ValueError, match="reason"):
        acknowledge(stack, "SNS3", "  ")


def test_templates_are_cfn_lint_clean(synthesized: Any) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    templates = sorted(str(path) for path in synthesized.outdir.glob("*.template.json"))
    assert len(templates) == len(ACKNOWLEDGED)
    completed = subprocess.run(
        [str(cfn_lint), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_stacks_are_environment_agnostic_and_need_no_lookups(synthesized: Any) -> None:
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    assert set(stacks) == set(ACKNOWLEDGED)
    for artifact in stacks.values():
        assert artifact["environment"] == "aws://unknown-account/unknown-region"
    assert "missing" not in manifest, manifest.get("missing")
