"""What the operations tools need to find on a stage, as one document in SSM Parameter Store.

The CDK app writes it (``/luca/<stage>/resources``, a String parameter holding JSON) from the stacks'
own resources; the local platform writes the same document into its emulator. ``luca dlq``,
``luca sync``, ``luca events``, ``luca trace`` and ``luca schools`` read it with ``--stage NAME`` through the normal AWS
credential chain, so they run the same code against a deployed stage and the local platform.

The document is versioned: a tool refuses a document newer than it understands rather than guess.
Fields added later have defaults (an older document still reads, and a command that needs one says
so); fields a newer minor change adds are ignored. Only a change an older tool would misread raises
``DOCUMENT_VERSION``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

PARAMETER_PREFIX = "/luca"
DOCUMENT_VERSION = 1
LOCAL_STAGE = "local"
# Keys of ``StageResources.log_groups``: the log groups the runbooks and ``luca trace`` read.
LOG_GRADE_PROCESSOR = "grade-processor"
LOG_GOVERNMENT_SYNC = "government-sync"
LOG_API_ACCESS = "api-access"
LOG_GRADING = "grading"
LOG_GOVSYNC_API = "govsync-api"
LOG_ANALYTICS_API = "analytics-api"
# The tenant lifecycle's audit trail: one record per school created, exported or erased (``luca schools``).
LOG_TENANT_AUDIT = "tenant-audit"


class StageNotFound(LookupError):
    """No resources document for the stage (not deployed, another region or account)."""


class UnsupportedDocument(ValueError):
    """A document this version of the tools cannot read."""


def parameter_name(stage: str) -> str:
    if not stage or not all(c.isalnum() or c in "-_" for c in stage):
        raise ValueError(f"a stage name is letters, digits, '-' and '_': {stage!r}")
    return f"{PARAMETER_PREFIX}/{stage}/resources"


@dataclass(frozen=True)
class StageResources:
    """The names and addresses of one stage's resources (no secrets: the tools get credentials from
    the AWS credential chain, and the tenant role is assumed per school with the school's tag)."""

    stage: str
    region: str
    table_name: str
    tenant_role_arn: str
    events_queue_url: str
    events_dlq_url: str
    govsync_state_machine_arn: str
    govsync_dlq_url: str
    govsync_manifest_bucket: str
    lake_bucket: str
    # Added for ``luca schools`` (tenant lifecycle): empty in a document published before it.
    user_pool_id: str = ""
    # The ops alerts topic the per-school p95 alarm notifies.
    alerts_topic_arn: str = ""
    # The grade processor's batch role (``luca dlq list`` reads as the processor does); empty in a
    # document published before it.
    batch_role_arn: str = ""
    # LOG_* key -> log group name.
    log_groups: Mapping[str, str] = field(default_factory=dict)
    version: int = DOCUMENT_VERSION

    def to_json(self) -> str:
        body = asdict(self)
        body["log_groups"] = dict(self.log_groups)
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StageResources:
        raw: Any = json.loads(text)
        if not isinstance(raw, dict):
            raise UnsupportedDocument("the resources document is not a JSON object")
        version = raw.get("version", DOCUMENT_VERSION)
        if not isinstance(version, int) or version > DOCUMENT_VERSION:
            raise UnsupportedDocument(
                f"resources document version {version!r}; these tools read up to {DOCUMENT_VERSION}"
            )
        known = {f.name for f in fields(cls)}
        missing = sorted(
            f.name
            for f in fields(cls)
            if f.name not in raw and f.default is MISSING and f.default_factory is MISSING
        )
        if missing:
            raise UnsupportedDocument(f"the resources document lacks {', '.join(missing)}")
        # Fields added by a later minor change are ignored rather than refused.
        return cls(**{key: value for key, value in raw.items() if key in known})


def publish(ssm: SSMClient, resources: StageResources) -> str:
    """Write (or replace) the stage's document; returns the parameter name."""
    name = parameter_name(resources.stage)
    ssm.put_parameter(
        Name=name,
        Value=resources.to_json(),
        Type="String",
        Overwrite=True,
        Description=f"Luca {resources.stage}: resources the operations tools use",
    )
    return name


def load(ssm: SSMClient, stage: str) -> StageResources:
    name = parameter_name(stage)
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound as exc:
        raise StageNotFound(
            f"no {name} parameter: is stage {stage!r} deployed in this account and region?"
        ) from exc
    return StageResources.from_json(value)
