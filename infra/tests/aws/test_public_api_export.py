"""The public document on AWS: the edge's request models are its component schemas, and the
assembly carries the document as the gateway serves it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from luca_infra.aws.public_api_models import DRAFT_04, EXPORT_FILE
from luca_infra.public_api import public_document

pytestmark = pytest.mark.infra
EDGE_STACK = "LucaEdge"


def test_the_edge_request_models_are_the_served_component_schemas(synthesized: Any) -> None:
    served = public_document()["components"]["schemas"]
    models = {
        model["Properties"]["Name"]: model["Properties"]["Schema"]
        for model in synthesized.resources(EDGE_STACK, "AWS::ApiGateway::Model").values()
    }

    assert set(models) == {"StudentEvent", "SubmitEventsRequest"}
    for name, schema in models.items():
        assert schema == {"$schema": DRAFT_04, **served[name]}


def test_the_assembly_carries_the_served_document(synthesized: Any) -> None:
    exported = json.loads((synthesized.outdir / EXPORT_FILE).read_text(encoding="utf-8"))

    assert exported == public_document()
