"""The burst path as deployed: edge routes → SQS → event-source mapping → grade processor.

Every expected value comes from ``PLATFORM_DEFINITION``, the contract's generated JSON Schemas or the
handler's settings, so these tests fail when the CDK app drifts from what the local platform and the
service use. The edge's VTL is checked as text (no Velocity engine here): which values it reads, and
from where.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_sqs as sqs

from luca_edge.definition import SCHOOL_KEY, STUDENT_KEY
from luca_infra.aws.app import (
    CERTIFICATE_ARN_CONTEXT,
    SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN,
    build_app,
)
from luca_infra.aws.edge import (
    CORRELATION_HEADER,
    ROUTE_PREFIX,
    SQS_EMPTY_BATCH,
    EventRoutes,
    refused_response_template,
    send_events_template,
)
from luca_infra.aws.grading import IMAGE_DOCKERFILE
from luca_infra.aws.ingest import DLQ_ALARM_NAME
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_ingest.config import IngestSettings
from luca_ingest.entrypoints.handler import SERVICE as PROCESSOR_SERVICE
from luca_platform.contracts import roster as roster_contract

pytestmark = pytest.mark.infra

DEFINITION = PLATFORM_DEFINITION
INGEST = DEFINITION.ingest
TENANT = DEFINITION.tenant_role
BATCH = DEFINITION.batch_role
INGEST_STACK = "LucaIngest"
EDGE_STACK = "LucaEdge"
SCHEMA_PACKAGE = "luca.ingest.v1.schemas"

ACCOUNT = "111122223333"
REGION = "eu-west-1"
TENANT_ARN = f"arn:aws:iam::{ACCOUNT}:role/{TENANT.name}"
BATCH_ARN = f"arn:aws:iam::{ACCOUNT}:role/{BATCH.name}"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{DEFINITION.table.name}"
PROCESSOR_ROLE_NAME = INGEST.role_name
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{INGEST.queue_name}"
SQS_CONSUME = {
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}


# -- reading the templates ---------------------------------------------------------------------------
def _one(synthesized: Any, stack: str, resource_type: str, prefix: str) -> tuple[str, dict[str, Any]]:
    found = {
        lid: r for lid, r in synthesized.resources(stack, resource_type).items() if lid.startswith(prefix)
    }
    assert len(found) == 1, f"expected one {resource_type} named {prefix}* in {stack}: {sorted(found)}"
    return next(iter(found.items()))


def _export(synthesized: Any, import_name: str) -> tuple[str, Any]:
    """The stack and value behind an ``Fn::ImportValue`` name."""
    stack = import_name.split(":", 1)[0]
    for output in synthesized.templates[stack].get("Outputs", {}).values():
        if output.get("Export", {}).get("Name") == import_name:
            return stack, output["Value"]
    raise AssertionError(f"{stack} exports no {import_name}")


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _policy_statements(synthesized: Any, stack: str, role_logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _resolver(get_att: dict[str, str], imports: dict[str, str]) -> Callable[[Any], Any]:
    """Resolves the intrinsics these policies use, with a fake account and region."""

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}[value["Ref"]]
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve(part)) for part in parts)
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn", value
            return get_att[logical_id]
        if set(value) == {"Fn::ImportValue"}:
            (prefix,) = [p for p in imports if value["Fn::ImportValue"].startswith(p)]
            return imports[prefix]
        return {key: resolve(item) for key, item in value.items()}

    return resolve


@pytest.fixture(scope="module")
def ingest(synthesized: Any) -> dict[str, Any]:
    """Logical ids of the ingest stack's resources, and its resources by role."""
    queue_id, queue = _one(synthesized, INGEST_STACK, "AWS::SQS::Queue", "Events")
    dlq_id, dlq = _one(synthesized, INGEST_STACK, "AWS::SQS::Queue", "DeadLetters")
    function_id, function = synthesized.only(INGEST_STACK, "AWS::Lambda::Function")
    role_id, role = _one(synthesized, INGEST_STACK, "AWS::IAM::Role", "ProcessorRole")
    log_group_id, log_group = synthesized.only(INGEST_STACK, "AWS::Logs::LogGroup")
    return {
        "queue_id": queue_id,
        "queue": queue["Properties"],
        "dlq_id": dlq_id,
        "dlq": dlq["Properties"],
        "function_id": function_id,
        "function": function["Properties"],
        "role_id": role_id,
        "role": role["Properties"],
        "log_group_id": log_group_id,
        "log_group": log_group["Properties"],
    }


# -- queues ------------------------------------------------------------------------------------------
def test_queue_visibility_is_six_function_timeouts_and_poison_messages_go_to_the_dlq(
    ingest: dict[str, Any],
) -> None:
    queue, dlq, function = ingest["queue"], ingest["dlq"], ingest["function"]
    assert function["Timeout"] == INGEST.function_timeout_seconds
    assert queue["VisibilityTimeout"] == 6 * function["Timeout"] == INGEST.visibility_timeout_seconds
    assert queue["QueueName"] == INGEST.queue_name
    assert queue["MessageRetentionPeriod"] == INGEST.message_retention_days * 86400
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [ingest["dlq_id"], "Arn"]},
        "maxReceiveCount": INGEST.max_receive_count,
    }
    assert dlq["QueueName"] == INGEST.dlq_name
    assert dlq["MessageRetentionPeriod"] == INGEST.dlq_retention_days * 86400
    assert "RedrivePolicy" not in dlq


def test_both_queues_are_encrypted_and_refuse_plain_http(synthesized: Any, ingest: dict[str, Any]) -> None:
    policies = synthesized.resources(INGEST_STACK, "AWS::SQS::QueuePolicy").values()
    for logical_id in (ingest["queue_id"], ingest["dlq_id"]):
        queue = synthesized.templates[INGEST_STACK]["Resources"][logical_id]["Properties"]
        assert queue["SqsManagedSseEnabled"] is True
        (policy,) = [p for p in policies if p["Properties"]["Queues"] == [{"Ref": logical_id}]]
        (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny"
        assert deny["Principal"] == {"AWS": "*"}
        assert deny["Action"] == "sqs:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dead_letters_page_the_ops_alerts_topic(synthesized: Any, ingest: dict[str, Any]) -> None:
    _, alarm = synthesized.only(INGEST_STACK, "AWS::CloudWatch::Alarm")
    properties = alarm["Properties"]
    assert properties["AlarmName"] == DLQ_ALARM_NAME
    assert properties["Namespace"] == "AWS/SQS"
    assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert properties["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [ingest["dlq_id"], "QueueName"]}}
    ]
    assert properties["Threshold"] == 0
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["TreatMissingData"] == "notBreaching"
    (action,) = properties["AlarmActions"]
    stack, value = _export(synthesized, action["Fn::ImportValue"])
    topic = synthesized.templates[stack]["Resources"][value["Ref"]]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Properties"]["TopicName"] == DEFINITION.alerts_topic


# -- the function ------------------------------------------------------------------------------------
def test_event_source_mapping_batches_as_defined(synthesized: Any, ingest: dict[str, Any]) -> None:
    _, mapping = synthesized.only(INGEST_STACK, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"] == {
        "BatchSize": INGEST.batch_size,
        "EventSourceArn": {"Fn::GetAtt": [ingest["queue_id"], "Arn"]},
        "FunctionName": {"Ref": ingest["function_id"]},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumBatchingWindowInSeconds": INGEST.max_batching_window_seconds,
        "ScalingConfig": {"MaximumConcurrency": INGEST.max_concurrency},
    }
    assert (INGEST.batch_size, INGEST.max_batching_window_seconds) == (50, 5)


def test_function_is_the_bundle_as_a_file_asset_on_arm64(
    synthesized: Any, ingest: dict[str, Any], ingest_bundle: Path
) -> None:
    function = ingest["function"]
    assert function["FunctionName"] == INGEST.function_name
    assert function["Runtime"] == INGEST.runtime
    assert function["Handler"] == INGEST.handler
    assert function["Architectures"] == ["arm64"] == [INGEST.architecture]
    assert function["MemorySize"] == INGEST.memory_mib
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Role"] == {"Fn::GetAtt": [ingest["role_id"], "Arn"]}
    # Its code is an uploaded S3 object (a file asset), the very zip the bundle builder made.
    key = function["Code"]["S3Key"]
    assert isinstance(key, str)
    assert key.endswith(".zip")
    assets = json.loads((synthesized.outdir / f"{INGEST_STACK}.assets.json").read_text())
    (asset,) = [
        a for a in assets["files"].values() if key in [d["objectKey"] for d in a["destinations"].values()]
    ]
    assert asset["source"]["packaging"] == "file"
    assert (synthesized.outdir / asset["source"]["path"]).read_bytes() == ingest_bundle.read_bytes()
    # Logs go to the stack's own group, with a retention.
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": ingest["log_group_id"]}}
    assert ingest["log_group"]["RetentionInDays"] > 0


def test_environment_is_what_the_handler_reads(synthesized: Any, ingest: dict[str, Any]) -> None:
    environment: dict[str, Any] = ingest["function"]["Environment"]["Variables"]
    # The table is the data stack's, imported (so it exists before the function).
    table_import = environment["LUCA_TABLE_NAME"]["Fn::ImportValue"]
    stack, value = _export(synthesized, table_import)
    assert synthesized.templates[stack]["Resources"][value["Ref"]]["Properties"]["TableName"] == (
        DEFINITION.table.name
    )
    resolve = _resolver({}, {"LucaData:": DEFINITION.table.name})
    resolved = {name: resolve(value) for name, value in environment.items()}
    settings = IngestSettings.from_environment(resolved)
    assert settings.table_name == DEFINITION.table.name
    assert settings.batch_role_arn == BATCH_ARN
    assert settings.tenant_role_arn is None  # the processor has no per-school sessions
    assert settings.metrics_namespace == DEFINITION.metrics_namespace
    assert resolved["POWERTOOLS_SERVICE_NAME"] == PROCESSOR_SERVICE
    assert resolved["POWERTOOLS_LOG_LEVEL"] == "INFO"
    # Every LUCA_ variable is one the handler reads: changing it changes its settings.
    for name in [n for n in resolved if n.startswith("LUCA_")]:
        changed = {**resolved, name: "7" if resolved[name].isdigit() else "changed"}
        assert IngestSettings.from_environment(changed) != settings, f"the handler ignores {name}"


# -- the function's identity -------------------------------------------------------------------------
def test_processor_role_has_no_table_access_and_may_only_assume_the_batch_role(
    synthesized: Any, ingest: dict[str, Any]
) -> None:
    role = ingest["role"]
    # Named: the batch role's trust (LucaData) admits it by this name.
    assert role["RoleName"] == PROCESSOR_ROLE_NAME
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in role
    resolve = _resolver({ingest["queue_id"]: QUEUE_ARN, ingest["log_group_id"]: "log-group-arn"}, {})
    statements = resolve(_policy_statements(synthesized, INGEST_STACK, ingest["role_id"]))
    actions = {action for statement in statements for action in _as_list(statement["Action"])}
    assert not any(action.lower().startswith("dynamodb:") for action in actions)
    assert actions == SQS_CONSUME | {
        "sts:AssumeRole",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    by_service = {_as_list(s["Action"])[0].split(":")[0]: s for s in statements}
    assert len(by_service) == len(statements)
    assert set(_as_list(by_service["sts"]["Action"])) == {"sts:AssumeRole"}
    assert by_service["sts"]["Resource"] == BATCH_ARN
    assert by_service["sqs"]["Resource"] == QUEUE_ARN
    assert by_service["logs"]["Resource"] == "log-group-arn"
    assert by_service["xray"]["Resource"] == "*"
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement


@pytest.fixture(scope="module")
def processor_iam(synthesized: Any, ingest: dict[str, Any]) -> dict[str, Any]:
    """The processor's identity policy (ingest stack) and the batch role's trust (data stack)."""
    # A table import would only appear if the role were given table access: resolve it, so the
    # simulation below reports that access instead of failing to read the policy.
    resolve_ingest = _resolver(
        {ingest["queue_id"]: QUEUE_ARN, ingest["log_group_id"]: "log-group-arn"}, {"LucaData:": TABLE_ARN}
    )
    (batch,) = [
        r
        for r in synthesized.resources("LucaData", "AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == BATCH.name
    ]
    # The trust names the processor's role by its name: nothing to import from this stack.
    return {
        "policy": {
            "Version": "2012-10-17",
            "Statement": resolve_ingest(_policy_statements(synthesized, INGEST_STACK, ingest["role_id"])),
        },
        "trust": _resolver({}, {})(batch["Properties"]["AssumeRolePolicyDocument"]),
    }


def _request(
    processor_iam: dict[str, Any],
    *,
    action: str,
    resource: str,
    context: dict[str, Any],
    trust: bool,
    role_name: str = PROCESSOR_ROLE_NAME,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "request": {
            "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{INGEST.function_name}",
            "action": action,
            "resource": {"resource": resource, "accountId": ACCOUNT},
            "contextVariables": {**context, "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/{role_name}"},
        },
        "identityPolicies": [{"name": "processor", "policy": processor_iam["policy"]}],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
    }
    if trust:
        request["resourcePolicy"] = processor_iam["trust"]
    return request


def test_processor_assumes_only_the_batch_role_and_never_touches_the_table_itself(
    simulate_iam: Any, processor_iam: dict[str, Any]
) -> None:
    def assume(**kwargs: Any) -> dict[str, Any]:
        return _request(processor_iam, resource=BATCH_ARN, context={}, trust=True, **kwargs)

    expectations: dict[str, tuple[dict[str, Any], str]] = {
        "assume the batch role": (assume(action="sts:AssumeRole"), "Allowed"),
        "assume it as another role": (
            assume(action="sts:AssumeRole", role_name="some-other-role"),
            "ImplicitlyDenied",
        ),
        # No per-school sessions any more: the tenant role is not the processor's.
        "assume the tenant role": (
            _request(
                processor_iam,
                action="sts:AssumeRole",
                resource=TENANT_ARN,
                context={f"aws:RequestTag/{TENANT.session_tag}": "A", "aws:TagKeys": [TENANT.session_tag]},
                trust=False,
            ),
            "ImplicitlyDenied",
        ),
    }
    own_key = roster_contract.student_pk("A", "1")
    for action in (*TENANT.actions, "dynamodb:Scan"):
        expectations[f"own identity {action}"] = (
            _request(
                processor_iam,
                action=action,
                resource=TABLE_ARN,
                context={"dynamodb:LeadingKeys": [own_key]},
                trust=False,
            ),
            "ImplicitlyDenied",
        )
    expectations["assume any other role"] = (
        _request(
            processor_iam,
            action="sts:AssumeRole",
            resource=f"arn:aws:iam::{ACCOUNT}:role/admin",
            context={},
            trust=False,
        ),
        "ImplicitlyDenied",
    )

    results = simulate_iam({name: request for name, (request, _) in expectations.items()})
    wrong = {name: (results[name], want) for name, (_, want) in expectations.items() if results[name] != want}
    assert not wrong, wrong


# -- the edge routes ---------------------------------------------------------------------------------
def _path(resources_: dict[str, Any], logical_id: str) -> str:
    parts = []
    while logical_id in resources_:
        properties = resources_[logical_id]["Properties"]
        parts.append(properties["PathPart"])
        parent = properties["ParentId"]
        if "Ref" not in parent:
            break  # the API's root resource
        logical_id = parent["Ref"]
    return "/" + "/".join(reversed(parts))


@pytest.fixture(scope="module")
def routes(synthesized: Any) -> dict[str, dict[str, Any]]:
    """``/v1/events`` and ``/v1/events/batch``: route -> their method's properties."""
    resources_ = synthesized.resources(EDGE_STACK, "AWS::ApiGateway::Resource")
    found = {}
    for method in synthesized.resources(EDGE_STACK, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        path = _path(resources_, properties["ResourceId"]["Ref"])
        if properties["HttpMethod"] == "POST":
            found[path] = properties
    assert set(found) == {f"/{ROUTE_PREFIX}/{INGEST.event_route}", f"/{ROUTE_PREFIX}/{INGEST.batch_route}"}
    return {
        "event": found[f"/{ROUTE_PREFIX}/{INGEST.event_route}"],
        "batch": found[f"/{ROUTE_PREFIX}/{INGEST.batch_route}"],
    }


def _contract_schema(message: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files(SCHEMA_PACKAGE).joinpath(f"{message}.schema.json").read_text(encoding="utf-8")
    )
    return schema


def test_routes_validate_bodies_against_the_generated_contract(
    synthesized: Any, routes: dict[str, dict[str, Any]]
) -> None:
    edge = synthesized.templates[EDGE_STACK]["Resources"]
    for route, message in (("event", "StudentEvent"), ("batch", "SubmitEventsRequest")):
        method = routes[route]
        validator = edge[method["RequestValidatorId"]["Ref"]]["Properties"]
        assert validator["ValidateRequestBody"] is True
        (content_type,) = method["RequestModels"]
        assert content_type == "application/json"
        model = edge[method["RequestModels"][content_type]["Ref"]]
        assert model["Type"] == "AWS::ApiGateway::Model"
        assert model["Properties"]["ContentType"] == "application/json"
        # The generated schema exactly: nothing dropped, nothing copied by hand.
        assert model["Properties"]["Schema"] == _contract_schema(message)
    batch = _contract_schema("SubmitEventsRequest")["properties"]["events"]
    assert (batch["minItems"], batch["maxItems"]) == (1, INGEST.max_events_per_request)
    # The school is no field of an event: a body that names one is a 400 at the edge.
    event = _contract_schema("StudentEvent")
    assert event["additionalProperties"] is False
    assert INGEST.school_attribute not in event["properties"]


def test_routes_are_authorized_and_send_to_the_events_queue(
    synthesized: Any, routes: dict[str, dict[str, Any]]
) -> None:
    (authorizer_id, authorizer) = synthesized.only(EDGE_STACK, "AWS::ApiGateway::Authorizer")
    assert authorizer["Properties"]["Type"] == "REQUEST"
    for method in routes.values():
        assert method["AuthorizationType"] == "CUSTOM"
        assert method["AuthorizerId"] == {"Ref": authorizer_id}
        # The burst path is throttled per school too: the authorizer's key, the school's plan.
        assert method["ApiKeyRequired"] is True
        integration = method["Integration"]
        assert integration["Type"] == "AWS"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert integration["PassthroughBehavior"] == "NEVER"
        assert set(integration["RequestTemplates"]) == {"application/json"}
        assert integration["RequestParameters"] == {
            "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"
        }
        uri = integration["Uri"]["Fn::Join"][1]
        assert ":sqs:path/" in uri
        (queue_name,) = [part for part in uri if isinstance(part, dict) and "Fn::ImportValue" in part]
        stack, value = _export(synthesized, queue_name["Fn::ImportValue"])
        queue = synthesized.templates[stack]["Resources"][value["Fn::GetAtt"][0]]
        assert value["Fn::GetAtt"][1] == "QueueName"
        assert queue["Properties"]["QueueName"] == INGEST.queue_name


def test_integration_role_may_only_send_to_the_events_queue(
    synthesized: Any, routes: dict[str, dict[str, Any]]
) -> None:
    (role_id,) = {method["Integration"]["Credentials"]["Fn::GetAtt"][0] for method in routes.values()}
    role = synthesized.templates[EDGE_STACK]["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role
    (statement,) = _policy_statements(synthesized, EDGE_STACK, role_id)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sqs:SendMessage"
    stack, value = _export(synthesized, statement["Resource"]["Fn::ImportValue"])
    assert stack == INGEST_STACK
    assert value["Fn::GetAtt"][1] == "Arn"
    assert synthesized.templates[stack]["Resources"][value["Fn::GetAtt"][0]]["Properties"]["QueueName"] == (
        INGEST.queue_name
    )


def _request_template(method: dict[str, Any]) -> str:
    template: str = method["Integration"]["RequestTemplates"]["application/json"]
    return template


def test_request_templates_take_the_school_from_the_token_and_never_from_the_body(
    routes: dict[str, dict[str, Any]],
) -> None:
    claim = f"$context.authorizer.{SCHOOL_KEY}"
    for route, method in routes.items():
        template = _request_template(method)
        assert "\n" not in template, "a newline would end up in the form-encoded body"
        assert template.count("Action=SendMessageBatch") == 1
        # $school is set once, from the verified token's claim, and is what the school attribute carries.
        assert re.findall(r'#set\(\$school = "([^"]*)"\)', template) == [f"$!{claim[1:]}"]
        school_values = re.findall(r"MessageAttribute\.(\d)\.Name=" + INGEST.school_attribute, template)
        assert school_values, route
        for index in school_values:
            assert re.findall(rf"MessageAttribute\.{index}\.Value\.StringValue=([^&#]*)", template) == [
                "$util.urlEncode($school)"
            ]
        # The body is read only for the events themselves, never for a school.
        reads = re.findall(r"\$input\.(?:path|json)\(([^)]*)\)", template)
        allowed = {
            "event": {
                "'$.event_id'",
                "'$'",
                "'$.student_id'",
            },  # the student only to compare with the token's
            "batch": {"'$.events'", '"$.events[$foreach.index]"'},
        }[route]
        assert set(reads) == allowed, reads
        assert "school" not in " ".join(reads).lower()
        assert "$input.body" not in template
        assert "$input.params" in template  # only for the correlation header
        assert set(re.findall(r"\$input\.params\(([^)]*)\)", template)) == {f"'{CORRELATION_HEADER}'"}


def test_request_templates_send_each_event_as_one_message_keyed_by_its_id(
    routes: dict[str, dict[str, Any]],
) -> None:
    for route, method in routes.items():
        template = _request_template(method)
        names = re.findall(r"MessageAttribute\.\d\.Name=([A-Za-z_]+)", template)
        assert names == [INGEST.school_attribute, INGEST.correlation_attribute, INGEST.student_attribute], (
            route
        )
        number = "1" if route == "event" else "${n}"
        entry = re.escape(f"SendMessageBatchRequestEntry.{number}.")
        (entry_id,) = re.findall(entry + r"Id=([^&#]*)", template)
        (body,) = re.findall(entry + r"MessageBody=(.*?)(?=&SendMessageBatch|#end|$)", template)
        if route == "event":
            assert entry_id == "$util.urlEncode($input.path('$.event_id'))"
            assert body == "$util.urlEncode($input.json('$'))"
        else:
            assert entry_id == "$util.urlEncode($event.event_id)"
            assert body == '$util.urlEncode($input.json("$.events[$foreach.index]"))'
            # A repeated event id in one request is sent once (SQS refuses repeated entry ids).
            assert "#if(!$seen.contains($event.event_id))" in template
        # The correlation id: the caller's header when sane, else the gateway's request id.
        assert f"$input.params('{CORRELATION_HEADER}')" in template
        assert "#set($correlation = $context.requestId)" in template
        (correlation,) = re.findall(r"MessageAttribute\.2\.Value\.StringValue=([^&#]*)", template)
        assert correlation == "$util.urlEncode($correlation)"
        # Without a school, or with another student's event in a student's request, nothing is sent:
        # no entry may escape the check. (Rendered and sent to SQS in test_edge_mapping_templates.)
        school_check = template.index('#if($school != "" && !$foreign)')
        assert template.index("SendMessageBatchRequestEntry") > school_check
        assert re.findall(r'#set\(\$student = "([^"]*)"\)', template) == [
            f"$!context.authorizer.{STUDENT_KEY}"
        ]
        (student,) = re.findall(r"MessageAttribute\.3\.Value\.StringValue=([^&#]*)", template)
        assert student == "$util.urlEncode($student)"
        # The rendering test runs the functions; the deployed templates are exactly their output.
        assert template == send_events_template(batch=route == "batch", ingest=INGEST)


def test_answers_carry_the_confirmed_ids_and_leak_nothing_from_sqs(routes: dict[str, dict[str, Any]]) -> None:
    for method in routes.values():
        responses = {
            r.get("SelectionPattern", "default"): r for r in method["Integration"]["IntegrationResponses"]
        }
        assert set(responses) == {"default", r"4\d{2}", r"5\d{2}"}
        accepted = responses["default"]
        assert accepted["StatusCode"] == "202"
        template = accepted["ResponseTemplates"]["application/json"]
        assert "$input.path('$.SendMessageBatchResponse.SendMessageBatchResult')" in template
        assert "$result.Successful" in template
        assert "$result.Failed" in template
        assert '{"event_ids":[#foreach($id in $queued)' in template
        # 202 only when SQS confirmed every entry; otherwise a 503 problem.
        assert "#if($failed.isEmpty() && !$queued.isEmpty())" in template
        assert "#set($context.responseOverride.status = 503)" in template
        assert responses[r"4\d{2}"]["StatusCode"] == "500"
        assert responses[r"5\d{2}"]["StatusCode"] == "503"
        for pattern in (r"4\d{2}", r"5\d{2}"):
            error = responses[pattern]
            assert error["ResponseParameters"]["method.response.header.Content-Type"] == (
                "'application/problem+json'"
            )
            text = error["ResponseTemplates"]["application/json"]
            # Nothing of SQS's answer (codes, messages, queue names) is written into these: the body
            # is only searched for the empty-batch code the request template provokes.
            assert "$input.path" not in text
            assert "$input.json" not in text
            assert re.findall(r"\$input\.body[^&)]*", text) == (
                [f'$input.body.contains("{SQS_EMPTY_BATCH}"'] if pattern == r"4\d{2}" else []
            )
        # A token without a school is a 403, decided from the token, not from SQS's answer.
        refused = responses[r"4\d{2}"]["ResponseTemplates"]["application/json"]
        assert f'#set($school = "$!context.authorizer.{SCHOOL_KEY}")' in refused
        assert '#if($school == "")#set($context.responseOverride.status = 403)' in refused
        assert refused == refused_response_template()
        assert {r["StatusCode"] for r in method["MethodResponses"]} == {"202", "403", "500", "503"}


def test_bad_bodies_get_a_problem_from_the_edge(synthesized: Any) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.resources(EDGE_STACK, "AWS::ApiGateway::GatewayResponse").values()
    }
    for response_type, status in (("BAD_REQUEST_BODY", 400), ("UNSUPPORTED_MEDIA_TYPE", 415)):
        response = responses[response_type]
        assert response["StatusCode"] == str(status)
        assert response["ResponseParameters"] == {
            "gatewayresponse.header.Content-Type": "'application/problem+json'"
        }
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert body["status"] == status
        assert body["correlation_id"] == "$context.requestId"
        assert body["type"].startswith("https://")


# -- composition -------------------------------------------------------------------------------------
def test_a_missing_bundle_says_to_run_make_bundle(tmp_path: Path) -> None:
    # A repository root with the grading Dockerfile but no dist/: the default bundle path is missing.
    (tmp_path / IMAGE_DOCKERFILE).parent.mkdir(parents=True)
    (tmp_path / IMAGE_DOCKERFILE).write_text("FROM scratch\n")
    context = {CERTIFICATE_ARN_CONTEXT: SYNTH_ONLY_PLACEHOLDER_CERTIFICATE_ARN}
    with pytest.raises(FileNotFoundError, match="make bundle") as missing:
        build_app(str(tmp_path / "cdk.out"), context=context, repo_root=tmp_path)
    assert str(tmp_path / INGEST.bundle) in str(missing.value)
    not_a_zip = tmp_path / "bundle.zip"
    not_a_zip.write_text("not a zip")
    with pytest.raises(ValueError, match="not a zip"):
        build_app(str(tmp_path / "cdk.out"), context=context, repo_root=tmp_path, ingest_bundle=not_a_zip)


def test_a_batch_larger_than_one_sqs_call_is_refused_at_synthesis() -> None:
    stack = cdk.Stack(cdk.App(), "Routes")
    api = apigw.RestApi(stack, "Api")
    authorizer = apigw.CognitoUserPoolsAuthorizer(
        stack, "Authorizer", cognito_user_pools=[cognito.UserPool(stack, "Pool")]
    )
    queue = sqs.Queue(stack, "Queue")
    definition = dataclasses.replace(
        DEFINITION,
        ingest=dataclasses.replace(INGEST, max_events_per_request=INGEST.max_events_per_request + 1),
    )
    with pytest.raises(ValueError, match="SendMessageBatch"):
        EventRoutes(stack, "Events", api=api, authorizer=authorizer, queue=queue, definition=definition)
