"""The public document on AWS: API Gateway's request models from its component schemas, and the
document itself written into the cloud assembly.

Models: API Gateway validates with draft-04 JSON Schema, so a model is the served component schema
plus that ``$schema``, nothing else; the served document and the edge's validator cannot drift.

Export: a file in the assembly (``luca-public-api.openapi.json``, next to the templates), not a
stack output: the document is tens of kilobytes and an output's value is limited to a few, and a
file is what the client generators and the schemathesis run read as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk

from luca_infra.public_api import public_document, public_document_bytes

DRAFT_04 = "http://json-schema.org/draft-04/schema#"
EXPORT_FILE = "luca-public-api.openapi.json"


def request_model_schema(component: str) -> dict[str, Any]:
    """The API Gateway model of a component of the public document."""
    schema: dict[str, Any] = public_document()["components"]["schemas"][component]
    return {"$schema": DRAFT_04, **schema}


def export_public_document(app: cdk.App) -> Path:
    """Writes the document into the app's assembly directory (at composition: synth keeps it)."""
    target = Path(app.outdir) / EXPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(public_document_bytes())
    return target
