"""The edge: API Gateway REST API in front of the services' ALB and the burst queue, behind WAF.

Request path: WAF (IP reputation, per-IP rate, body size, managed rule groups: ``firewall``) →
stage throttling → the REQUEST authorizer (``edge_authorizer``: the ID token must be valid, checked by
the services' own verifier; the service verifies it again and takes the school only from it) → the
school's usage-plan key, throttled with its tier's limits → ``/v1/{proxy+}`` → private integration over a VPC link V2 → the shared internal ALB's
REST listener (``LucaNetwork``) → the service whose rule claims the path (grading, unless another's
does) → its ``/v1/{proxy}``.

Why a VPC link V2 to the ALB: REST APIs can reach an ALB privately through a VPC link V2 (the
NLB-based V1 links are legacy), so the ALB stays internal, has no public DNS name to protect with a
shared-secret header, and requests never leave the VPC between the edge and the service. The link
is not yet in CDK's L2 integration, so the method's integration is completed with an override.
The integration URI spells the backend path (``/v1/{proxy}``) explicitly; AWS documents that private
integrations may otherwise prefix the stage name to the backend path, which the first deploy should
confirm against the access log's ``path`` and the service's route log.

The analytics reports (``GET /v1/analytics/{report}``) take the same authorized proxy route: the
ALB's REST listener sends ``/v1/analytics*`` to the analytics query service (``LucaAnalyticsApi``), which
verifies the token again and lets only a school's admins and teachers read. A report has no body and
only query-string parameters, which the service checks strictly (an unknown or repeated one is a 400).

URLs: the stage is named by the definition (``v1``) and the resource is ``/v1/{proxy+}``, so on the
default execute-api host a route reads ``/v1/v1/evaluations``; behind a custom domain whose base path
maps to the stage it reads ``/v1/evaluations``, the same path the local gateway serves.

Correlation ids: the caller's ``X-Correlation-Id`` is passed through. A proxy integration cannot set
a header only when it is absent, so API Gateway does not mint one; the service mints it (and returns
it) when the header is missing. The gateway's own request id travels as ``X-Edge-Request-Id`` and is
in the access log, so edge and service logs join either way.

The burst path (``POST /v1/events``: one ``StudentEvent``; ``POST /v1/events/batch``: a
``SubmitEventsRequest`` of up to ten) has no compute at the edge. The same authorizer, then a request
validator with a model per route built from the contract's generated JSON Schema (a body that does
not match, including one that names a school, is a 400 problem before anything is queued; a body
that is not ``application/json`` is a 415, so no content type can skip validation), then an AWS
service integration that calls SQS ``SendMessageBatch`` with a role that may only send to the events
queue. The request template (SQS query protocol, form-encoded) sends each event, re-serialized by
``$input.json``, as one message whose entry id is the event's ``event_id``, with message
attributes: ``school_id`` from the authorizer's context (the verified token's school, never the body),
``correlation_id`` (the caller's ``X-Correlation-Id`` when it is a sane token, the service's rule,
else the gateway's request id; returned in the ``X-Correlation-Id`` response header), and, for a
student's token, ``submitted_by_student`` from the context's student id. A student's token
may only send that student's events: a request naming another student queues nothing (403), and the
processor checks the attribute again. Repeated event
ids in one request are queued once: the id is the idempotency key, so the repeat is the same event
(a template cannot refuse a request, so this is where the AWS edge differs from the local one, which
answers 400). Likewise the per-event byte limit (``max_event_bytes``) has no equivalent here without
compute: the model bounds every field but ``occurred_at`` (a ``date-time``), the 200 answers and the
ten events, and SQS refuses a message or batch over its own size limit (a 500 problem).

Answers: 202 ``{"event_ids": [...]}`` with the ids SQS confirmed (``Successful[].Id``); otherwise an
RFC 9457 problem that says nothing about SQS: 503 (and ``failed_event_ids``) when SQS refused some
entries, was unavailable, or the answer confirmed nothing; 403 when the token names no school or a
student's token names another student (the template then sends no entry at all, which SQS refuses
with ``EmptyBatchRequest``); 500 for any other refusal. The JSON members
read from the answer (``SendMessageBatchResponse.SendMessageBatchResult.Successful`` / ``Failed``) are
how SQS renders query-protocol answers in JSON; the first deploy must confirm them with one call
(a 202 listing the sent id), since the template never claims an event it cannot see confirmed.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from luca_edge.definition import SCHOOL_KEY, STUDENT_KEY
from luca_infra.aws.edge_authorizer import EdgeAuthorizer, tier_usage_plans
from luca_infra.aws.firewall import edge_firewall
from luca_infra.aws.load_balancer import REST_LISTENER_PORT
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.public_api_models import request_model_schema
from luca_infra.definitions import (
    NOT_THE_SUBMITTER,
    IngestDefinition,
    PlatformDefinition,
)
from luca_platform.problems import PROBLEM_BASE, TITLES
from luca_platform.telemetry.context import MAX_CORRELATION_ID
from luca_platform.telemetry.metrics import SCHOOL_DIMENSION, THROTTLED_REQUESTS

ROUTE_PREFIX = "v1"
CORRELATION_HEADER = "X-Correlation-Id"
EDGE_REQUEST_ID_HEADER = "X-Edge-Request-Id"
ACCESS_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
INTEGRATION_TIMEOUT = cdk.Duration.seconds(29)

# -- the burst path's routes ---------------------------------------------------------------------------
SCHEMA_PACKAGE = "luca.ingest.v1.schemas"
EVENT_MESSAGE = "StudentEvent"
BATCH_MESSAGE = "SubmitEventsRequest"
JSON_TYPE = "application/json"
PROBLEM_TYPE = "application/problem+json"
FORM_TYPE = "application/x-www-form-urlencoded"
SQS_API_VERSION = "2012-11-05"
SQS_MAX_BATCH_ENTRIES = 10
# The characters the grading service accepts in a caller's correlation id (sanitize_correlation_id),
# as a Java regex for the template's String.matches.
CORRELATION_PATTERN = "[A-Za-z0-9._:-]+"
RETRY_AFTER_SECONDS = 1
# SQS's error code for a SendMessageBatch without entries: what the request template provokes to refuse.
SQS_EMPTY_BATCH = "EmptyBatchRequest"


def access_log_format() -> dict[str, str]:
    """One JSON line per request. REST access logs cannot read request headers, hence requestId."""
    return {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "school": f"$context.authorizer.{SCHOOL_KEY}",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "method": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "path": "$context.path",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "requestTime": "$context.requestTime",
        "xrayTraceId": "$context.xrayTraceId",
        "wafStatus": "$context.waf.status",
        "authorizerError": "$context.authorizer.error",
        "error": "$context.error.message",
    }


def contract_schema(message: str) -> dict[str, Any]:
    """The generated draft-04 JSON Schema of a ``luca.ingest.v1`` message's JSON mapping."""
    source = resources.files(SCHEMA_PACKAGE).joinpath(f"{message}.schema.json")
    schema: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return schema


def _vtl(*fragments: str) -> str:
    """Fragments joined into one line: whitespace between directives would end up in the output,
    and a form-encoded body must not gain stray newlines or spaces."""
    return "".join(fragment.strip() for fragment in fragments)


def _literal(text: str) -> str:
    """Static text for a template, as a JSON string; VTL must not find a reference or directive in it."""
    if "$" in text or "#" in text:
        raise ValueError(f"static template text must not contain '$' or '#': {text!r}")
    return json.dumps(text)


def _problem(status: HTTPStatus, kind: str, detail: str, correlation: str, **members: str) -> str:
    """An RFC 9457 problem body (the grading service's shape); ``members`` are JSON written in VTL."""
    title = TITLES.get(status.value, status.phrase)
    fixed = (
        f'"type":{_literal(PROBLEM_BASE + kind)},"title":{_literal(title)},"status":{status.value},'
        f'"detail":{_literal(detail)},"correlation_id":"{correlation}"'
    )
    extra = "".join(f',"{name}":{value}' for name, value in members.items())
    return "{" + fixed + extra + "}"


def correlation_vtl() -> str:
    """Sets ``$correlation``: the caller's correlation id if it is a sane token, else the request id."""
    return _vtl(
        f"#set($correlation = $input.params('{CORRELATION_HEADER}'))",
        f"#if($correlation.length() > {MAX_CORRELATION_ID} || !$correlation.matches('{CORRELATION_PATTERN}'))",
        "#set($correlation = $context.requestId)",
        "#end",
    )


def school_vtl() -> str:
    """Sets ``$school`` from the authorizer's context: the verified token's school (empty if none)."""
    return f'#set($school = "$!context.authorizer.{SCHOOL_KEY}")'


def student_vtl() -> str:
    """Sets ``$student`` from the authorizer's context (empty for teachers and services)."""
    return f'#set($student = "$!context.authorizer.{STUDENT_KEY}")'


def _batch_entry(number: str, event_id: str, body: str, ingest: IngestDefinition) -> str:
    """One ``SendMessageBatchRequestEntry`` of the query protocol, every value URL-encoded."""
    entry = f"&SendMessageBatchRequestEntry.{number}"
    fields = [f"{entry}.Id=$util.urlEncode({event_id})", f"{entry}.MessageBody=$util.urlEncode({body})"]
    attributes = (
        (ingest.school_attribute, "$school"),
        (ingest.correlation_attribute, "$correlation"),
        (ingest.student_attribute, "$student"),
    )
    for index, (name, value) in enumerate(attributes, start=1):
        attribute = f"{entry}.MessageAttribute.{index}"
        fields += [
            # Only a student's token has a student claim; SQS refuses an empty attribute value.
            '#if($student != "")' if value == "$student" else "",
            f"{attribute}.Name={name}",
            f"{attribute}.Value.DataType=String",
            f"{attribute}.Value.StringValue=$util.urlEncode({value})",
            "#end" if value == "$student" else "",
        ]
    return "".join(fields)


def send_events_template(*, batch: bool, ingest: IngestDefinition) -> str:
    """The integration request: ``SendMessageBatch`` with one entry per event.

    The single form's body is the event; the batch form's events are ``$.events``, each sent once
    per distinct ``event_id`` (the entry id, which SQS requires to be unique in a batch). No entry at
    all is sent when the token names no school, or when a student's token sends an event naming
    another student: SQS refuses the empty batch and the refusal's template answers 403.
    """
    if batch:
        foreign = _vtl(
            "#foreach($event in $input.path('$.events'))",
            '#if($student != "" && $event.student_id != $student)#set($foreign = true)#end',
            "#end",
        )
        entries = _vtl(
            "#set($seen = [])",
            "#set($n = 0)",
            "#foreach($event in $input.path('$.events'))",
            "#if(!$seen.contains($event.event_id))",
            "#set($added = $seen.add($event.event_id))",
            "#set($n = $n + 1)",
            _batch_entry("${n}", "$event.event_id", '$input.json("$.events[$foreach.index]")', ingest),
            "#end",
            "#end",
        )
    else:
        foreign = "#if($student != \"\" && $input.path('$.student_id') != $student)#set($foreign = true)#end"
        entries = _batch_entry("1", "$input.path('$.event_id')", "$input.json('$')", ingest)
    return _vtl(
        correlation_vtl(),
        school_vtl(),
        student_vtl(),
        "#set($foreign = false)",
        foreign,
        f"Action=SendMessageBatch&Version={SQS_API_VERSION}",
        '#if($school != "" && !$foreign)',
        entries,
        "#end",
    )


def _id_list(variable: str) -> str:
    return f'[#foreach($id in {variable})"$util.escapeJavaScript($id)"#if($foreach.hasNext),#end#end]'


def _answer_headers() -> str:
    return f"#set($context.responseOverride.header.{CORRELATION_HEADER} = $correlation)"


def queued_response_template() -> str:
    """SQS answered 2xx: 202 with the confirmed ids, or 503 naming the ids SQS did not take."""
    return _vtl(
        correlation_vtl(),
        _answer_headers(),
        "#set($result = $input.path('$.SendMessageBatchResponse.SendMessageBatchResult'))",
        "#set($queued = [])",
        "#foreach($entry in $result.Successful)#set($added = $queued.add($entry.Id))#end",
        "#set($failed = [])",
        "#foreach($entry in $result.Failed)#set($added = $failed.add($entry.Id))#end",
        "#if($failed.isEmpty() && !$queued.isEmpty())",
        '{"event_ids":' + _id_list("$queued") + "}",
        "#else",
        f"#set($context.responseOverride.status = {HTTPStatus.SERVICE_UNAVAILABLE.value})",
        f'#set($context.responseOverride.header.Content-Type = "{PROBLEM_TYPE}")',
        f'#set($context.responseOverride.header.Retry-After = "{RETRY_AFTER_SECONDS}")',
        _problem(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "queue-unavailable",
            "Some events were not queued. Send the ones in failed_event_ids again: an event id is an "
            "idempotency key, so sending an event twice never counts it twice.",
            "$correlation",
            event_ids=_id_list("$queued"),
            failed_event_ids=_id_list("$failed"),
        ),
        "#end",
    )


def refused_response_template() -> str:
    """SQS refused the whole request (4xx). 403 when the request template sent no entry: the token
    names no school, or a student's token sent another student's event. Otherwise our fault (500)."""
    return _vtl(
        correlation_vtl(),
        school_vtl(),
        student_vtl(),
        _answer_headers(),
        '#if($school == "")',
        f"#set($context.responseOverride.status = {HTTPStatus.FORBIDDEN.value})",
        _problem(
            HTTPStatus.FORBIDDEN,
            "forbidden",
            "Only a school's users may submit events, and this token names no school.",
            "$correlation",
        ),
        f'#elseif($student != "" && $input.body.contains("{SQS_EMPTY_BATCH}"))',
        f"#set($context.responseOverride.status = {HTTPStatus.FORBIDDEN.value})",
        _problem(HTTPStatus.FORBIDDEN, "forbidden", NOT_THE_SUBMITTER, "$correlation"),
        "#else",
        _problem(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "internal",
            "The events were not queued and nothing was stored.",
            "$correlation",
        ),
        "#end",
    )


def unavailable_response_template() -> str:
    """SQS failed (5xx): nothing was queued; the caller may send the same events again."""
    return _vtl(
        correlation_vtl(),
        _answer_headers(),
        _problem(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "queue-unavailable",
            "The events were not queued. Send them again: an event id is an idempotency key, so "
            "sending an event twice never counts it twice.",
            "$correlation",
        ),
    )


class EventRoutes(Construct):
    """``POST /v1/events`` and ``POST /v1/events/batch``: validated, then straight into the queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        authorizer: apigw.IAuthorizer,
        queue: sqs.IQueue,
        definition: PlatformDefinition,
    ) -> None:
        super().__init__(scope, construct_id)
        ingest = definition.ingest
        batch_schema = request_model_schema(BATCH_MESSAGE)
        most = batch_schema["properties"]["events"]["maxItems"]
        if most != ingest.max_events_per_request or most > SQS_MAX_BATCH_ENTRIES:
            raise ValueError(
                f"{BATCH_MESSAGE} allows {most} events, the definition {ingest.max_events_per_request}; "
                f"one request is one SendMessageBatch of at most {SQS_MAX_BATCH_ENTRIES} entries"
            )

        # API Gateway signs the SQS call as this role, which may only send to the events queue.
        self.role = iam.Role(
            self,
            "QueueRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway's burst-path integration: may only send messages to the events queue",
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
        self.validator = apigw.RequestValidator(
            self,
            "Validator",
            rest_api=api,
            request_validator_name="events-body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        stack = cdk.Stack.of(self)
        self.methods: dict[str, apigw.Method] = {}
        for route, message, schema, batch in (
            (ingest.event_route, EVENT_MESSAGE, request_model_schema(EVENT_MESSAGE), False),
            (ingest.batch_route, BATCH_MESSAGE, batch_schema, True),
        ):
            integration = apigw.AwsIntegration(
                service="sqs",
                path=f"{stack.account}/{queue.queue_name}",
                integration_http_method="POST",
                options=apigw.IntegrationOptions(
                    credentials_role=self.role,
                    # Only the templated content type reaches SQS; any other is a 415 at the edge.
                    passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                    request_parameters={"integration.request.header.Content-Type": f"'{FORM_TYPE}'"},
                    request_templates={JSON_TYPE: send_events_template(batch=batch, ingest=ingest)},
                    integration_responses=_integration_responses(),
                ),
            )
            resource = api.root.resource_for_path(f"{ROUTE_PREFIX}/{route}")
            self.methods[route] = resource.add_method(
                "POST",
                integration,
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                # The school's key, named by the authorizer: the school's own bucket of its tier.
                api_key_required=True,
                request_validator=self.validator,
                request_models={JSON_TYPE: self._model(api, message, schema)},
                method_responses=_method_responses(),
            )

    def _model(self, api: apigw.RestApi, name: str, schema: dict[str, Any]) -> apigw.IModel:
        # The L1 model takes the generated schema as it is; the L2 would need it rebuilt as JsonSchema.
        model = apigw.CfnModel(
            self,
            f"{name}Model",
            rest_api_id=api.rest_api_id,
            name=name,
            content_type=JSON_TYPE,
            description=f"luca.ingest.v1.{name}, generated from the contract",
            schema=schema,
        )
        deployment = api.latest_deployment
        if deployment is not None:
            # Like the L2 model: a changed schema redeploys the stage, and only after the model exists.
            deployment.node.add_dependency(model)
            deployment.add_to_logical_id({"model": {"name": name, "schema": schema}})
        return apigw.Model.from_model_name(self, f"{name}ModelRef", model.ref)


def _integration_responses() -> list[apigw.IntegrationResponse]:
    problem = {"method.response.header.Content-Type": f"'{PROBLEM_TYPE}'"}
    return [
        apigw.IntegrationResponse(
            status_code=str(HTTPStatus.ACCEPTED.value),
            response_parameters={"method.response.header.Content-Type": f"'{JSON_TYPE}'"},
            response_templates={JSON_TYPE: queued_response_template()},
        ),
        apigw.IntegrationResponse(
            status_code=str(HTTPStatus.INTERNAL_SERVER_ERROR.value),
            selection_pattern=r"4\d{2}",
            response_parameters=problem,
            response_templates={JSON_TYPE: refused_response_template()},
        ),
        apigw.IntegrationResponse(
            status_code=str(HTTPStatus.SERVICE_UNAVAILABLE.value),
            selection_pattern=r"5\d{2}",
            response_parameters={
                **problem,
                "method.response.header.Retry-After": f"'{RETRY_AFTER_SECONDS}'",
            },
            response_templates={JSON_TYPE: unavailable_response_template()},
        ),
    ]


def _method_responses() -> list[apigw.MethodResponse]:
    headers = ("Content-Type", CORRELATION_HEADER, "Retry-After")
    return [
        apigw.MethodResponse(
            status_code=str(status.value),
            response_parameters={f"method.response.header.{header}": False for header in headers},
        )
        for status in (
            HTTPStatus.ACCEPTED,
            HTTPStatus.FORBIDDEN,
            HTTPStatus.INTERNAL_SERVER_ERROR,
            HTTPStatus.SERVICE_UNAVAILABLE,
        )
    ]


class EdgeStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        user_pool: cognito.IUserPool,
        user_pool_client: cognito.IUserPoolClient,
        repo_root: Path,
        vpc: ec2.IVpc,
        link_subnets: ec2.SubnetSelection,
        link_security_group: ec2.ISecurityGroup,
        load_balancer: elbv2.IApplicationLoadBalancer,
        events_queue: sqs.IQueue,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        throttling = definition.throttling

        # Named: the runbooks, the stage's resources document and `luca trace --stage` read it.
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=definition.api_access_log_group,
            retention=ACCESS_LOG_RETENTION,
        )
        self.access_logs = access_logs
        # 429s counted per school from the access log: the stage's and (with the tiers' usage plans)
        # each school's throttling. CloudWatch disables a filter whose dimensions make more than
        # 1,000 series an hour: a platform-wide throttling incident shows as the filter turning off.
        logs.MetricFilter(
            self,
            "ThrottledBySchool",
            log_group=access_logs,
            metric_namespace=definition.metrics_namespace,
            metric_name=THROTTLED_REQUESTS,
            filter_pattern=logs.FilterPattern.string_value("$.status", "=", "429"),
            metric_value="1",
            dimensions={SCHOOL_DIMENSION: "$.school"},
            unit=cloudwatch.Unit.COUNT,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=definition.api_name,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The authorizer names the caller's key; a key a client sends (X-API-Key) is ignored.
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
            cloud_watch_role=True,  # the account-level role API Gateway needs to write logs
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=definition.api_stage,
                throttling_rate_limit=throttling.stage_rate_limit,
                throttling_burst_limit=throttling.stage_burst_limit,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(access_log_format())),
                # Errors only, and never bodies: requests carry minors' personal data.
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
            ),
        )
        acknowledge(
            self.api,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role; AWS maintains this policy for exactly this use "
            "(write to CloudWatch Logs), and stage execution and access logs depend on it.",
        )

        self.authorizer = EdgeAuthorizer(
            self,
            "EdgeAuthorizer",
            definition=definition,
            user_pool=user_pool,
            user_pool_client=user_pool_client,
            repo_root=repo_root,
        )
        authorizer = self.authorizer.authorizer
        self.usage_plans = tier_usage_plans(self.api, definition)
        link = apigwv2.VpcLink(
            self, "GradingLink", vpc=vpc, subnets=link_subnets, security_groups=[link_security_group]
        )
        integration = apigw.Integration(
            type=apigw.IntegrationType.HTTP_PROXY,
            integration_http_method="ANY",
            # With a VPC link V2 the URI only sets the Host header and the path; the load balancer is
            # named by the integration target below.
            uri=f"http://{load_balancer.load_balancer_dns_name}:{REST_LISTENER_PORT}/{ROUTE_PREFIX}/{{proxy}}",
            options=apigw.IntegrationOptions(
                request_parameters={
                    "integration.request.path.proxy": "method.request.path.proxy",
                    f"integration.request.header.{CORRELATION_HEADER}": f"method.request.header.{CORRELATION_HEADER}",
                    f"integration.request.header.{EDGE_REQUEST_ID_HEADER}": "context.requestId",
                },
                timeout=INTEGRATION_TIMEOUT,
            ),
        )
        routes = self.api.root.add_resource(ROUTE_PREFIX).add_resource("{proxy+}")
        method = routes.add_method(
            "ANY",
            integration,
            authorizer=authorizer,
            authorization_type=apigw.AuthorizationType.CUSTOM,
            # The school's key, named by the authorizer: the school's own bucket of its tier.
            api_key_required=True,
            request_parameters={
                "method.request.path.proxy": True,
                f"method.request.header.{CORRELATION_HEADER}": False,
            },
            # Bodies are validated by the grading service (typed models, RFC 9457 problems), the only
            # place that knows each school's grading scale; a body validator without a model here
            # would validate nothing. The burst routes validate bodies against the contract.
            request_validator_options=apigw.RequestValidatorOptions(validate_request_parameters=True),
        )
        cfn_method = method.node.default_child
        assert isinstance(cfn_method, apigw.CfnMethod)
        cfn_method.add_property_override("Integration.ConnectionType", "VPC_LINK")
        cfn_method.add_property_override("Integration.ConnectionId", link.vpc_link_id)
        cfn_method.add_property_override("Integration.IntegrationTarget", load_balancer.load_balancer_arn)
        # Overrides bypass the deployment's fingerprint: add them, or a changed link would not redeploy.
        if self.api.latest_deployment is not None:
            self.api.latest_deployment.add_to_logical_id(
                {"connectionId": link.vpc_link_id, "integrationTarget": load_balancer.load_balancer_arn}
            )

        self.events = EventRoutes(
            self,
            "Events",
            api=self.api,
            authorizer=authorizer,
            queue=events_queue,
            definition=definition,
        )
        self._problem_gateway_responses(definition.ingest)

        acknowledge(
            self.api,
            "COG4",
            "Every method is authorized by the REQUEST authorizer (luca_edge), which verifies the Cognito "
            "ID token with the services' own verifier: a Cognito user pool authorizer cannot name the "
            "school's usage-plan key, which per-school throttling needs (docs/decisions/0006).",
        )
        self.web_acl = edge_firewall(self, definition, self.api.deployment_stage.stage_arn)

    def _problem_gateway_responses(self, ingest: IngestDefinition) -> None:
        """Problems, not API Gateway's ``{"message": ...}``, for what the edge itself refuses.

        Only the burst routes can produce the first two: the proxy route validates parameters only and
        passes every content type through to the service, which answers with its own problems. Every
        route can be throttled.
        """
        for response_type, status, kind, detail in (
            (
                apigw.ResponseType.BAD_REQUEST_BODY,
                HTTPStatus.BAD_REQUEST,
                "validation",
                "The body does not match the contract (luca.ingest.v1): a StudentEvent, or "
                f"{{events: [StudentEvent, ...]}} with 1 to {ingest.max_events_per_request} events, and "
                "nothing else; the school comes from the token, never from the body.",
            ),
            (
                apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE,
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                f"Send the events as {JSON_TYPE}.",
            ),
        ):
            self.api.add_gateway_response(
                f"Problem{status.value}",
                type=response_type,
                status_code=str(status.value),
                response_headers={"Content-Type": f"'{PROBLEM_TYPE}'"},
                templates={JSON_TYPE: _problem(status, kind, detail, "$context.requestId")},
            )
        # The authorizer's refusals: a 401 with the challenge, as the services answer; a school without
        # a key (not onboarded, or deleted) a 403 that says so; the authorizer failing (its key set
        # unreachable) a 503 to retry, which API Gateway does not cache.
        self.api.add_gateway_response(
            "ProblemUnauthorized",
            type=apigw.ResponseType.UNAUTHORIZED,
            status_code=str(HTTPStatus.UNAUTHORIZED.value),
            response_headers={"Content-Type": f"'{PROBLEM_TYPE}'", "WWW-Authenticate": "'Bearer'"},
            templates={
                JSON_TYPE: _problem(
                    HTTPStatus.UNAUTHORIZED,
                    "unauthenticated",
                    "Send a valid ID token: Authorization: Bearer <token>.",
                    "$context.requestId",
                )
            },
        )
        self.api.add_gateway_response(
            "ProblemNoSchoolKey",
            type=apigw.ResponseType.INVALID_API_KEY,
            status_code=str(HTTPStatus.FORBIDDEN.value),
            response_headers={"Content-Type": f"'{PROBLEM_TYPE}'"},
            templates={
                JSON_TYPE: _problem(
                    HTTPStatus.FORBIDDEN,
                    "school-not-enabled",
                    "Your school is not enabled on this platform; ask the platform's operators.",
                    "$context.requestId",
                )
            },
        )
        for response_type, name in (
            (apigw.ResponseType.AUTHORIZER_FAILURE, "ProblemAuthorizerFailure"),
            (apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR, "ProblemAuthorizerConfiguration"),
        ):
            self.api.add_gateway_response(
                name,
                type=response_type,
                status_code=str(HTTPStatus.SERVICE_UNAVAILABLE.value),
                response_headers={
                    "Content-Type": f"'{PROBLEM_TYPE}'",
                    "Retry-After": f"'{RETRY_AFTER_SECONDS}'",
                },
                templates={
                    JSON_TYPE: _problem(
                        HTTPStatus.SERVICE_UNAVAILABLE,
                        "unavailable",
                        "Sign-in could not be checked just now; retry after the Retry-After seconds.",
                        "$context.requestId",
                    )
                },
            )
        # The stage's (and a usage plan's) throttling: a 429 problem with Retry-After, as the local
        # gateway and the services answer, on every route.
        for response_type, name in (
            (apigw.ResponseType.THROTTLED, "ProblemThrottled"),
            (apigw.ResponseType.QUOTA_EXCEEDED, "ProblemQuotaExceeded"),
        ):
            self.api.add_gateway_response(
                name,
                type=response_type,
                status_code=str(HTTPStatus.TOO_MANY_REQUESTS.value),
                response_headers={
                    "Content-Type": f"'{PROBLEM_TYPE}'",
                    "Retry-After": f"'{RETRY_AFTER_SECONDS}'",
                },
                templates={
                    JSON_TYPE: _problem(
                        HTTPStatus.TOO_MANY_REQUESTS,
                        "rate-limited",
                        "Your school is sending requests faster than its plan allows; retry after the "
                        "Retry-After seconds.",
                        "$context.requestId",
                    )
                },
            )
