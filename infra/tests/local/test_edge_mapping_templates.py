"""API Gateway's burst-path mapping templates, rendered by a Velocity engine and sent to SQS.

The AWS edge has no compute: what the events routes do is two Velocity templates. Here they are
rendered with ``airspeed`` (the AWS flavour of Velocity) against stand-ins for ``$input``, ``$util``
and ``$context`` that behave as API Gateway documents them, and the rendered form is posted, as the
integration does, to the emulator's SQS query endpoint. SQS's answer then goes through the response
templates. What is not checked here, and is said in ``aws/edge.py``: that SQS answers an integration
in the JSON shape the 202 template reads (``SendMessageBatchResponse.SendMessageBatchResult``); the
test converts the emulator's XML answer into that shape.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import airspeed
import httpx
import pytest

from luca_edge.domain.grant import Grant
from luca_infra.aws.edge import (
    queued_response_template,
    refused_response_template,
    send_events_template,
    unavailable_response_template,
)
from luca_infra.definitions import NOT_THE_SUBMITTER, PlatformDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.provision import EventQueues
from luca_kernel.access import Principal, Role
from luca_kernel.ids import SchoolId, StudentId
from luca_platform.school_keys import api_key_value

pytestmark = pytest.mark.emulator
SCHOOL_CLAIM = "custom:school_id"
STUDENT_CLAIM = "custom:student_id"


# -- API Gateway's template variables ------------------------------------------------------------------
def json_path(document: Any, expression: str) -> Any:
    """The JSONPath subset API Gateway templates use: ``$``, ``.member`` and ``[index]``."""
    if not expression.startswith("$"):
        raise ValueError(expression)
    value = document
    for member, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", expression[1:]):
        if value is None:
            return None
        value = value.get(member) if member else value[int(index)]
    return value


@dataclass
class Input:
    """``$input``: the request (or integration response) body and the method request's parameters."""

    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def path(self, expression: str) -> Any:
        return json_path(json.loads(self.body), expression)

    def json(self, expression: str) -> str:
        return json.dumps(self.path(expression), separators=(",", ":"), ensure_ascii=False)

    def params(self, name: str) -> str:
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), "")


class Util:
    """``$util``: the helpers the templates call."""

    @staticmethod
    def urlEncode(value: Any) -> str:
        return urllib.parse.quote_plus(str(value), safe="")

    @staticmethod
    def escapeJavaScript(value: Any) -> str:
        return json.dumps(str(value))[1:-1]


def context(claims: dict[str, str], request_id: str = "edge-req-1") -> dict[str, Any]:
    """``$context``, its ``authorizer`` what the edge's authorizer returns for a token with these claims."""
    if claims.get(SCHOOL_CLAIM):
        principal = Principal(
            school_id=SchoolId(claims[SCHOOL_CLAIM]),
            subject="user-1",
            roles=frozenset({Role.STUDENT if claims.get(STUDENT_CLAIM) else Role.TEACHER}),
            student_id=StudentId(claims[STUDENT_CLAIM]) if claims.get(STUDENT_CLAIM) else None,
        )
        authorizer: dict[str, str] = Grant(principal, api_key_value(principal.school_id)).context()
    else:
        # The verifier refuses such a token; the templates must still send nothing if one got through.
        authorizer = {}
    return {"requestId": request_id, "authorizer": authorizer, "responseOverride": {"header": {}}}


def render(template: str, *, input_: Input, context_: dict[str, Any]) -> str:
    rendered: str = airspeed.Template(template).merge({"input": input_, "util": Util(), "context": context_})
    return rendered


# -- the edge, end to end ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    sqs_status: int


@pytest.fixture
def edge(emulator: Emulator, queues: EventQueues, definition: PlatformDefinition) -> Any:
    """``edge(route, body, claims, headers)``: one request through the route's templates and SQS."""

    def send(route: str, body: Any, claims: dict[str, str], headers: dict[str, str] | None = None) -> Answer:
        request = Input(json.dumps(body), headers or {})
        form = render(
            send_events_template(batch=route == "batch", ingest=definition.ingest),
            input_=request,
            context_=context(claims),
        )
        # The integration: POST {account}/{queue} with the form, as API Gateway's role signs it.
        scope = f"test/20260101/{emulator.region}/sqs/aws4_request"
        sqs = httpx.post(
            queues.queue_url,
            content=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0",
            },
            timeout=10,
        )
        if sqs.status_code < 300:
            template, answer = queued_response_template(), json.dumps(sqs_json(sqs.text))
        elif sqs.status_code < 500:
            template, answer = refused_response_template(), sqs.text
        else:
            template, answer = unavailable_response_template(), sqs.text
        status = {True: 202, False: 500 if sqs.status_code < 500 else 503}[sqs.status_code < 300]
        answer_context = context(claims)
        rendered = render(template, input_=Input(answer, headers or {}), context_=answer_context)
        override = answer_context["responseOverride"]
        return Answer(
            override.get("status", status), json.loads(rendered), override["header"], sqs.status_code
        )

    return send


def sqs_json(xml: str) -> dict[str, Any]:
    """SQS's query-protocol answer in the JSON shape an integration reads (see the module's note)."""
    root = ET.fromstring(xml)  # noqa: S314 (the local emulator's answer, in a test)
    strip = re.compile(r"^\{[^}]*\}")

    def entries(tag: str) -> list[dict[str, str]]:
        found = [el for el in root.iter() if strip.sub("", el.tag) == tag]
        return [{strip.sub("", child.tag): child.text or "" for child in el} for el in found]

    return {
        "SendMessageBatchResponse": {
            "SendMessageBatchResult": {
                "Successful": entries("SendMessageBatchResultEntry"),
                "Failed": entries("BatchResultErrorEntry"),
            }
        }
    }


def event(event_id: str, student_id: str = "st-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id,
        "student_id": student_id,
        "course_id": "1A",
        "subject_id": "math",
        "occurred_at": "2025-03-01T10:00:00Z",
        "schema_version": 1,
        "exercise_submission": {"exercise_id": "ex-1", "score": "6.5"},
    }
    body.update(overrides)
    return body


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}


def test_a_students_own_event_is_queued_with_the_tokens_school_and_student(
    edge: Any, queues: EventQueues, drained: Any, definition: PlatformDefinition
) -> None:
    # Characters a form encoding must not mangle: & = + % # $ and non-ASCII.
    sent = event("evt-own-1", "st-7", exercise_submission={"exercise_id": "ex &=+%#$ ñandú", "score": "6.5"})
    claims = {SCHOOL_CLAIM: "school-a", STUDENT_CLAIM: "st-7"}

    answer = edge("event", sent, claims, {"X-Correlation-Id": "app-req-1"})

    assert (answer.status, answer.body) == (202, {"event_ids": ["evt-own-1"]})
    assert answer.headers["X-Correlation-Id"] == "app-req-1"
    (message,) = drained(queues.queue_url)
    assert json.loads(message["Body"]) == sent
    ingest = definition.ingest
    assert attributes(message) == {
        ingest.school_attribute: "school-a",
        ingest.correlation_attribute: "app-req-1",
        ingest.student_attribute: "st-7",
    }


def test_a_teachers_batch_is_queued_once_per_event_id_without_a_student_attribute(
    edge: Any, queues: EventQueues, drained: Any, definition: PlatformDefinition
) -> None:
    events = [event("evt-b-1", "st-1"), event("evt-b-2", "st-2"), event("evt-b-1", "st-1")]

    # An unusable correlation header is replaced by the gateway's request id.
    answer = edge("batch", {"events": events}, {SCHOOL_CLAIM: "school-b"}, {"X-Correlation-Id": "no spaces!"})

    assert answer.status == 202
    assert sorted(answer.body["event_ids"]) == ["evt-b-1", "evt-b-2"]
    messages = drained(queues.queue_url)
    assert sorted(json.loads(m["Body"])["event_id"] for m in messages) == ["evt-b-1", "evt-b-2"]
    ingest = definition.ingest
    for message in messages:
        assert attributes(message) == {
            ingest.school_attribute: "school-b",
            ingest.correlation_attribute: "edge-req-1",
        }


@pytest.mark.parametrize("route", ["event", "batch"])
def test_a_students_request_naming_another_student_queues_nothing_and_is_a_403(
    edge: Any, queues: EventQueues, drained: Any, route: str
) -> None:
    claims = {SCHOOL_CLAIM: "school-a", STUDENT_CLAIM: "st-7"}
    body: Any = (
        event("evt-x-1", "st-8")
        if route == "event"
        else {"events": [event("evt-x-1", "st-7"), event("evt-x-2", "st-8")]}
    )

    answer = edge(route, body, claims)

    assert answer.sqs_status == 400  # the template sent no entry: SQS refuses the empty batch
    assert answer.status == 403
    assert answer.body["type"] == "https://errors.luca.school/forbidden"
    assert answer.body["detail"] == NOT_THE_SUBMITTER
    assert drained(queues.queue_url) == []


def test_a_token_naming_no_school_queues_nothing_and_is_a_403(
    edge: Any, queues: EventQueues, drained: Any
) -> None:
    answer = edge("event", event("evt-n-1"), {})

    assert answer.status == 403
    assert "names no school" in answer.body["detail"]
    assert drained(queues.queue_url) == []


def test_a_refusal_that_is_not_ours_to_explain_is_a_500_that_echoes_nothing_from_sqs(
    definition: PlatformDefinition,
) -> None:
    sqs_error = json.dumps(
        {"Error": {"Code": "AccessDenied", "Message": f"arn:aws:sqs:queue/{uuid.uuid4()}"}}
    )
    claims = {SCHOOL_CLAIM: "school-a", STUDENT_CLAIM: "st-7"}
    answer_context = context(claims)

    rendered = render(refused_response_template(), input_=Input(sqs_error), context_=answer_context)

    body = json.loads(rendered)
    assert body["status"] == 500
    assert "status" not in answer_context["responseOverride"]  # the integration response's own 500
    assert "arn:" not in rendered
    assert "AccessDenied" not in rendered


def test_entries_sqs_did_not_take_are_a_503_naming_them() -> None:
    answer = {
        "SendMessageBatchResponse": {
            "SendMessageBatchResult": {
                "Successful": [{"Id": "evt-1", "MessageId": "m-1"}],
                "Failed": [{"Id": "evt-2", "Code": "InternalError", "SenderFault": False}],
            }
        }
    }
    answer_context = context({SCHOOL_CLAIM: "school-a"})

    rendered = render(queued_response_template(), input_=Input(json.dumps(answer)), context_=answer_context)

    body = json.loads(rendered)
    assert answer_context["responseOverride"]["status"] == 503
    assert answer_context["responseOverride"]["header"]["Retry-After"] == "1"
    assert (body["event_ids"], body["failed_event_ids"]) == (["evt-1"], ["evt-2"])
    assert "InternalError" not in rendered
