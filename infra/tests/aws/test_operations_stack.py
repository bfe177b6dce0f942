"""What operators get from the AWS composition: named log groups, the overview dashboard, alarms that
name the command to run, the per-school p95 alarm (CDK and boto3 alike), subscriptions from
deploy-time context, and the stage's resources document in SSM."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from moto import mock_aws

from luca_govsync.entrypoints import failure_streak
from luca_infra import stage_resources
from luca_infra.aws.containers import COLLECTOR_CONFIG
from luca_infra.aws.deploy_context import (
    ALERT_EMAILS_CONTEXT,
    ALERT_HTTPS_CONTEXT,
    ALERT_SLACK_CONTEXT,
    SCHOOLS_CONTEXT,
    STAGE_CONTEXT,
    read_operations_context,
)
from luca_infra.aws.nag import enable_checks
from luca_infra.aws.observability import LATENCY_ALARM_NAME, ObservabilityStack
from luca_infra.aws.school_alarm import SCHOOL_ALARMS_IN_STACK, AlarmSpec
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_platform.table import keys

pytestmark = pytest.mark.infra

DEFINITION = PLATFORM_DEFINITION
TOPIC_ARN = f"arn:aws:sns:eu-west-1:123456789012:{DEFINITION.alerts_topic}"


def resolve(value: Any) -> Any:
    """CloudFormation intrinsics as readable placeholders (``<LogicalId>``), strings joined."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Fn::Join":
            separator, parts = argument
            return separator.join(str(resolve(part)) for part in parts)
        if key == "Ref":
            return f"<{argument}>"
        if key == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if key == "Fn::ImportValue":
            return f"<import:{resolve(argument)}>"
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def _alarms(synthesized: Any) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["AlarmName"]: r["Properties"]
        for stack in synthesized.templates
        for r in synthesized.resources(stack, "AWS::CloudWatch::Alarm").values()
    }


# -- log groups --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stack", "name"),
    [
        ("LucaIngest", DEFINITION.ingest.log_group_name),
        ("LucaGovSync", DEFINITION.govsync.log_group_name),
        ("LucaEdge", DEFINITION.api_access_log_group),
        ("LucaGrading", DEFINITION.grading.log_group_name),
        ("LucaGovSyncApi", DEFINITION.govsync_api.log_group_name),
        ("LucaAnalyticsApi", DEFINITION.analytics_api.log_group_name),
        ("LucaAudit", DEFINITION.trail_log_group),
    ],
)
def test_the_runbooks_log_groups_exist_by_name_with_a_retention(
    synthesized: Any, stack: str, name: str
) -> None:
    groups = [
        r["Properties"]
        for r in synthesized.resources(stack, "AWS::Logs::LogGroup").values()
        if r["Properties"].get("LogGroupName") == name
    ]
    assert len(groups) == 1, f"{name} in {stack}"
    assert groups[0]["RetentionInDays"] >= 90


def test_the_grade_processor_logs_to_the_runbooks_group(synthesized: Any) -> None:
    assert DEFINITION.ingest.log_group_name == "/aws/lambda/grade-processor"
    resources = synthesized.templates["LucaIngest"]["Resources"]
    (function,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("FunctionName") == DEFINITION.ingest.function_name
    ]
    group = resources[function["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    assert group["LogGroupName"] == "/aws/lambda/grade-processor"


def test_the_edge_writes_its_access_log_to_the_named_group(synthesized: Any) -> None:
    resources = synthesized.templates["LucaEdge"]["Resources"]
    _, stage = synthesized.only("LucaEdge", "AWS::ApiGateway::Stage")
    group_id = stage["Properties"]["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert resources[group_id]["Properties"]["LogGroupName"] == DEFINITION.api_access_log_group


def test_state_machine_traces_and_the_collector_indexes_the_correlation_id(synthesized: Any) -> None:
    _, machine = synthesized.only("LucaGovSync", "AWS::StepFunctions::StateMachine")
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
    exporter = COLLECTOR_CONFIG["exporters"]["awsxray"]  # type: ignore[index]
    assert exporter["indexed_attributes"] == ["luca.correlation_id", "luca.school_id"]
    _, task = synthesized.only("LucaGrading", "AWS::ECS::TaskDefinition")
    (collector,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "otel-collector"]
    (config,) = [e["Value"] for e in collector["Environment"] if e["Name"] == "AOT_CONFIG_CONTENT"]
    assert json.loads(config)["exporters"]["awsxray"]["indexed_attributes"] == [
        "luca.correlation_id",
        "luca.school_id",
    ]


# -- dashboard ---------------------------------------------------------------------------------------
def test_the_overview_dashboard_answers_the_operators_questions(synthesized: Any) -> None:
    _, dashboard = synthesized.only("LucaObservability", "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == "Luca-Production-Overview"
    body = json.loads(resolve(dashboard["Properties"]["DashboardBody"]))
    widgets = {w["properties"]["title"]: json.dumps(w["properties"]) for w in body["widgets"]}
    text = "\n".join(widgets.values())

    def widget(words: str) -> str:
        (found,) = [body for title, body in widgets.items() if words in title]
        return found

    assert "SEARCH(" in widget("latency p95 by school")
    assert "p95" in widget("latency p95 by school")
    assert "school_id" in widget("requests per minute by school")
    # Counted from the school's latency series (decision 0012: one custom metric a school).
    assert "InteractiveRequestLatency" in widget("requests per minute by school")
    assert "SampleCount" in widget("requests per minute by school")
    assert "5XXError" in widget("Error rate")
    assert "errors / requests" in widget("Error rate")
    for kind in ("Read", "Write"):
        capacity = widget(f"consumed {kind.lower()} capacity")
        assert f"Consumed{kind}CapacityUnits" in capacity
        for index in keys.INDEXES:
            assert index.name in capacity
    dlqs = widget("Dead-letter queues")
    for queue in (
        DEFINITION.ingest.dlq_name,
        DEFINITION.govsync.dlq_name,
        DEFINITION.govsync.schedule_dlq_name,
        DEFINITION.analytics_aws.pipe_dlq_name,
    ):
        assert queue in dlqs
    assert DEFINITION.ingest.queue_name in widget("Events queue")
    for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed"):
        assert metric in widget("executions per 5 minutes")
    assert failure_streak.METRIC in widget("in a row")
    assert "DeliveryToS3.DataFreshness" in widget("Lake freshness")
    assert "Fn::ImportValue" not in json.dumps(dashboard), "the dashboard refers to no other stack"
    assert len(body["widgets"]) >= 10, text


# -- alarms ------------------------------------------------------------------------------------------
def test_every_alarm_pages_the_ops_topic(synthesized: Any) -> None:
    alarms = _alarms(synthesized)
    assert {
        "Luca-Ingest-DLQ-Alert",
        "Luca-GovSync-DLQ-Alert",
        "Luca-GovSync-Schedule-DLQ-Alert",
        DEFINITION.analytics_aws.pipe_dlq_alarm_name,
        DEFINITION.govsync.alarm_name,
        LATENCY_ALARM_NAME,
    } <= set(alarms)
    (topic_id,) = synthesized.resources("LucaObservability", "AWS::SNS::Topic")
    for name, alarm in alarms.items():
        (action,) = resolve(alarm["AlarmActions"])
        # The topic itself, or its export from LucaObservability.
        assert action == f"<{topic_id}>" or action.startswith("<import:LucaObservability:"), (name, action)


@pytest.mark.parametrize(
    ("alarm", "commands"),
    [
        ("Luca-Ingest-DLQ-Alert", ["`luca dlq list --stage prod`", "`luca dlq redrive --all --stage prod`"]),
        ("Luca-GovSync-DLQ-Alert", ["`luca sync dlq --stage prod`", "`luca sync redrive --stage prod`"]),
        ("Luca-GovSync-Schedule-DLQ-Alert", ["`luca sync start --period <period> --stage prod`"]),
        (DEFINITION.govsync.alarm_name, ["`luca sync dlq --stage prod`", "`luca sync redrive --stage prod`"]),
        (LATENCY_ALARM_NAME, ["`luca trace <correlation_id> --stage prod`"]),
        (DEFINITION.analytics_aws.pipe_dlq_alarm_name, ["`aws sqs receive-message --queue-url "]),
        (DEFINITION.analytics_aws.delivery_alarm_name, ["`aws s3 ls --recursive s3://"]),
    ],
)
def test_alarm_descriptions_name_the_exact_command(synthesized: Any, alarm: str, commands: list[str]) -> None:
    description = resolve(_alarms(synthesized)[alarm]["AlarmDescription"])
    for command in commands:
        assert command in description


def test_every_luca_command_an_alarm_names_is_one_the_cli_accepts(
    synthesized: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from luca_infra.cli import _parser

    parser = _parser()
    commands = [
        command
        for alarm in _alarms(synthesized).values()
        for command in re.findall(r"`luca ([^`]+)`", str(resolve(alarm["AlarmDescription"])))
    ]
    assert len(commands) >= 8
    for command in commands:
        # Placeholders become values; anything argparse refuses exits (SystemExit 2) and fails here.
        argv = [re.sub(r"^<(.+)>$", r"\1", word) for word in shlex.split(command)]
        args = parser.parse_args(argv)
        assert args.stage == "prod", command
    assert capsys.readouterr().err == ""


def test_no_school_alarms_without_schools_in_context(synthesized: Any) -> None:
    prefix = f"{DEFINITION.latency_alarm_prefix}-"
    per_school = [n for n in _alarms(synthesized) if n.startswith(prefix) and n != LATENCY_ALARM_NAME]
    assert per_school == []


def _observability(context: dict[str, Any], *, checked: bool = False) -> dict[str, Any]:
    """The observability stack alone, synthesized from ``context`` as the app reads it."""
    app = cdk.App(context=context)
    ObservabilityStack(
        app,
        "Observability",
        definition=DEFINITION,
        operations=read_operations_context(app.node.try_get_context),
    )
    if checked:
        enable_checks(app)
    template: dict[str, Any] = app.synth().get_stack_by_name("Observability").template
    return template


def _of_type(template: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def test_a_p95_alarm_for_every_school_in_context_from_the_shared_spec() -> None:
    template = _observability({SCHOOLS_CONTEXT: "school-a,school-b", STAGE_CONTEXT: "staging"})
    alarms = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in _of_type(template, "AWS::CloudWatch::Alarm")
        if r["Properties"]["AlarmName"] != LATENCY_ALARM_NAME
    }
    assert set(alarms) == {"Luca-P95-Latency-Alert-school-a", "Luca-P95-Latency-Alert-school-b"}
    for school in ("school-a", "school-b"):
        alarm = alarms[f"Luca-P95-Latency-Alert-{school}"]
        (topic_id,) = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
        expected = AlarmSpec(school_id=school, stage="staging").put_metric_alarm_kwargs(TOPIC_ARN)
        expected["AlarmActions"] = expected["OKActions"] = [{"Ref": topic_id}]
        assert alarm == expected
        assert alarm["ExtendedStatistic"] == "p95"
        assert alarm["Threshold"] == 120
        assert alarm["Dimensions"] == [
            {"Name": "school_id", "Value": school},
            {"Name": "service", "Value": DEFINITION.grading.name},
        ]
        assert "`luca trace <correlation_id> --stage staging`" in alarm["AlarmDescription"]


@mock_aws
def test_onboarding_creates_the_identical_alarm_with_boto3() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    spec = AlarmSpec(school_id="school-c", stage="prod")
    cloudwatch.put_metric_alarm(**spec.put_metric_alarm_kwargs(TOPIC_ARN))
    (created,) = cloudwatch.describe_alarms(AlarmNames=[spec.name])["MetricAlarms"]
    # What a deploy would create for the same school: the CfnAlarm built from the same spec.
    template = _observability({SCHOOLS_CONTEXT: ["school-c"]})
    (deployed,) = [
        r["Properties"]
        for r in _of_type(template, "AWS::CloudWatch::Alarm")
        if r["Properties"]["AlarmName"] == spec.name
    ]
    for key, value in deployed.items():
        if key in {"AlarmActions", "OKActions"}:
            assert created[key] == [TOPIC_ARN]
        else:
            assert created[key] == value, key


def test_more_school_alarms_than_the_stack_holds_fail_synthesis_not_the_deploy() -> None:
    # CloudFormation refuses a stack of more than 500 resources; past the cap onboarding's alarms
    # (boto3) are the only ones.
    schools = [f"school-{n:04d}" for n in range(SCHOOL_ALARMS_IN_STACK + 1)]
    with pytest.raises(ValueError, match="luca schools create"):
        read_operations_context({SCHOOLS_CONTEXT: schools}.get)
    # At the cap, with every kind of subscriber, the stack fits CloudFormation's 500 resources and
    # the 460,800 bytes of a template read from S3.
    template = _observability(
        {
            SCHOOLS_CONTEXT: schools[:-1],
            ALERT_EMAILS_CONTEXT: ["ops@example.com", "oncall@example.com"],
            ALERT_HTTPS_CONTEXT: ["https://pager.example.com/hook"],
            ALERT_SLACK_CONTEXT: {"workspaceId": "T0123456", "channelId": "C0123456"},
        }
    )
    assert len(_of_type(template, "AWS::CloudWatch::Alarm")) == SCHOOL_ALARMS_IN_STACK + 1
    assert len(template["Resources"]) <= 500
    assert len(json.dumps(template)) <= 460_800


def test_bad_school_ids_and_endpoints_fail_synthesis() -> None:
    with pytest.raises(ValueError, match="school id"):
        _observability({SCHOOLS_CONTEXT: ["school a"]})
    with pytest.raises(ValueError, match="https"):
        _observability({ALERT_HTTPS_CONTEXT: ["http://pager.example.com/hook"]})
    with pytest.raises(ValueError, match="email"):
        _observability({ALERT_EMAILS_CONTEXT: "not-an-address"})
    with pytest.raises(ValueError, match="workspaceId"):
        _observability({ALERT_SLACK_CONTEXT: {"channelId": "C0123456"}})


def test_subscriptions_and_chatbot_come_from_context_and_pass_the_checks() -> None:
    template = _observability(
        {
            ALERT_EMAILS_CONTEXT: ["oncall@example.com", "ops@example.com"],
            ALERT_HTTPS_CONTEXT: '["https://events.pagerduty.example/integration/abc/enqueue"]',
            ALERT_SLACK_CONTEXT: '{"workspaceId": "T0123ABCD", "channelId": "C0456EFGH"}',
        },
        checked=True,
    )
    subscriptions = {
        (r["Properties"]["Protocol"], r["Properties"]["Endpoint"])
        for r in _of_type(template, "AWS::SNS::Subscription")
    }
    assert subscriptions == {
        ("email", "oncall@example.com"),
        ("email", "ops@example.com"),
        ("https", "https://events.pagerduty.example/integration/abc/enqueue"),
    }
    (slack,) = _of_type(template, "AWS::Chatbot::SlackChannelConfiguration")
    properties = slack["Properties"]
    assert (properties["SlackWorkspaceId"], properties["SlackChannelId"]) == ("T0123ABCD", "C0456EFGH")
    (topic_id,) = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    assert properties["SnsTopicArns"] == [{"Ref": topic_id}]
    assert "ReadOnlyAccess" in json.dumps(properties["GuardrailPolicies"])


def test_without_context_the_topic_has_no_subscriber(synthesized: Any) -> None:
    template = synthesized.templates["LucaObservability"]
    assert _of_type(template, "AWS::SNS::Subscription") == []
    assert _of_type(template, "AWS::Chatbot::SlackChannelConfiguration") == []


# -- the stage's resources document ------------------------------------------------------------------
def test_the_stage_resources_document_names_what_the_tools_need(synthesized: Any) -> None:
    _, parameter = synthesized.only("LucaOperations", "AWS::SSM::Parameter")
    properties = parameter["Properties"]
    assert properties["Name"] == stage_resources.parameter_name("prod") == "/luca/prod/resources"
    assert properties["Type"] == "String"
    document = stage_resources.StageResources.from_json(resolve(properties["Value"]))
    assert document.stage == "prod"
    assert document.version == stage_resources.DOCUMENT_VERSION
    # Each value is the producing stack's own resource (an import), or a name from the definitions.
    for value in (
        document.table_name,
        document.events_queue_url,
        document.events_dlq_url,
        document.govsync_state_machine_arn,
        document.govsync_dlq_url,
        document.govsync_manifest_bucket,
        document.lake_bucket,
    ):
        assert value.startswith("<import:"), value
    imports = {
        "LucaData": document.table_name,
        "LucaIngest": document.events_queue_url + document.events_dlq_url,
        "LucaGovSync": document.govsync_state_machine_arn + document.govsync_dlq_url,
        "LucaAnalytics": document.lake_bucket,
    }
    for stack, values in imports.items():
        assert f"<import:{stack}:" in values, (stack, values)
    assert document.tenant_role_arn.endswith(f":role/{DEFINITION.tenant_role.name}")
    assert dict(document.log_groups) == {
        stage_resources.LOG_GRADE_PROCESSOR: "/aws/lambda/grade-processor",
        stage_resources.LOG_GOVERNMENT_SYNC: "/aws/stepfunctions/government-sync",
        stage_resources.LOG_API_ACCESS: DEFINITION.api_access_log_group,
        stage_resources.LOG_GRADING: DEFINITION.grading.log_group_name,
        stage_resources.LOG_GOVSYNC_API: DEFINITION.govsync_api.log_group_name,
        stage_resources.LOG_ANALYTICS_API: DEFINITION.analytics_api.log_group_name,
        stage_resources.LOG_TENANT_AUDIT: DEFINITION.tenant_audit_log_group,
    }
    # The alerts topic by its defined name (no export from LucaObservability).
    assert document.alerts_topic_arn.endswith(f":{DEFINITION.alerts_topic}"), document.alerts_topic_arn
