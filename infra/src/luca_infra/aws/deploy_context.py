"""The operations settings a deployment passes as CDK context, read and checked before any stack.

``cdk deploy -c key=value`` hands over strings, ``cdk.json`` and ``build_app(context=...)`` JSON values,
so every list here is accepted as a JSON list, a JSON string of one, or a comma-separated string.
Bad values fail synthesis with the key's name (a deploy must not silently page nobody).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from luca_infra.aws.constructs.python_function import ADOT_LAYER_CONTEXT, adot_layer_arn
from luca_infra.aws.runbook import DEFAULT_STAGE, Runbook
from luca_infra.aws.school_alarm import SCHOOL_ALARMS_IN_STACK, check_school_id

STAGE_CONTEXT = "luca:stage"
SCHOOLS_CONTEXT = "luca:schools"
ALERT_EMAILS_CONTEXT = "luca:alertEmails"
ALERT_HTTPS_CONTEXT = "luca:alertHttpsEndpoints"
ALERT_SLACK_CONTEXT = "luca:alertSlack"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Chatbot's Slack ids: a workspace (team) id starts with T, a channel id with C or G.
_SLACK_WORKSPACE = re.compile(r"^T[A-Z0-9]{6,}$")
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{6,}$")


@dataclass(frozen=True, slots=True)
class SlackChannel:
    workspace_id: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class OperationsContext:
    stage: str = DEFAULT_STAGE
    schools: tuple[str, ...] = ()
    alert_emails: tuple[str, ...] = ()
    alert_https_endpoints: tuple[str, ...] = ()
    alert_slack: SlackChannel | None = None

    @property
    def runbook(self) -> Runbook:
        return Runbook(self.stage)


def read_operations_context(get: Callable[[str], Any]) -> OperationsContext:
    """``get`` is ``app.node.try_get_context``."""
    adot_layer_arn(get(ADOT_LAYER_CONTEXT))  # read by every function; checked once, before any stack
    stage = str(get(STAGE_CONTEXT) or DEFAULT_STAGE)
    Runbook(stage)  # checks the name
    schools = tuple(check_school_id(s) for s in _strings(SCHOOLS_CONTEXT, get(SCHOOLS_CONTEXT)))
    if len(set(schools)) != len(schools):
        raise ValueError(f"{SCHOOLS_CONTEXT} lists a school twice: {sorted(schools)}")
    if len(schools) > SCHOOL_ALARMS_IN_STACK:
        # Fail the synthesis, not the deploy: CloudFormation refuses a stack of more than 500 resources.
        raise ValueError(
            f"{SCHOOLS_CONTEXT} lists {len(schools)} schools, more alarms than the stack holds "
            f"({SCHOOL_ALARMS_IN_STACK}): list none and let `luca schools create` put each school's alarm"
        )
    emails = _strings(ALERT_EMAILS_CONTEXT, get(ALERT_EMAILS_CONTEXT))
    for email in emails:
        if not _EMAIL.match(email):
            raise ValueError(f"{ALERT_EMAILS_CONTEXT}: not an email address: {email!r}")
    endpoints = _strings(ALERT_HTTPS_CONTEXT, get(ALERT_HTTPS_CONTEXT))
    for url in endpoints:
        if not url.startswith("https://") or len(url) <= len("https://"):
            raise ValueError(f"{ALERT_HTTPS_CONTEXT}: alerts go to https endpoints only: {url!r}")
    return OperationsContext(
        stage=stage,
        schools=schools,
        alert_emails=emails,
        alert_https_endpoints=endpoints,
        alert_slack=_slack(get(ALERT_SLACK_CONTEXT)),
    )


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else [part.strip() for part in text.split(",")]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{key} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _slack(value: Any) -> SlackChannel | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict) or set(value) != {"workspaceId", "channelId"}:
        raise ValueError(f'{ALERT_SLACK_CONTEXT} must be {{"workspaceId": "T…", "channelId": "C…"}}')
    workspace, channel = str(value["workspaceId"]), str(value["channelId"])
    if not _SLACK_WORKSPACE.match(workspace) or not _SLACK_CHANNEL.match(channel):
        raise ValueError(f"{ALERT_SLACK_CONTEXT}: not Slack workspace and channel ids: {value!r}")
    return SlackChannel(workspace_id=workspace, channel_id=channel)
