"""The grading REST API's OpenAPI document, stating what the use cases enforce beyond the models.

FastAPI writes the routes and models; this adds what only the use cases check, from their own
constants: the id pattern of every path parameter, the Idempotency-Key's characters, the decimal
limits of request bodies (pydantic's validation pattern for their string form), and that
``subject_id`` filters need ``term_id``.
"""

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from luca_grading.entrypoints import rest_models
from luca_grading.service_layer.common import ID_PATTERN, IDEMPOTENCY_KEY_PATTERN

REF_TEMPLATE = "#/components/schemas/{model}"
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    rest_models.RecordEvaluationBody,
    rest_models.RecordBehaviorNoteBody,
    rest_models.GradingRuleBody,
    rest_models.NamedBody,
    rest_models.StudentBody,
    rest_models.CorrectionBody,
    rest_models.RetractionBody,
)
_FILTER_NEEDS_TERM = "filters by subject; needs term_id (without it: 400 validation)"


class _DecimalLimits(GenerateJsonSchema):
    """Decimals whose string form carries their digit limits (pydantic's own validation pattern)."""

    def get_decimal_pattern(self, schema: core_schema.DecimalSchema) -> str | None:
        return self.build_decimal_pattern(schema)

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        found = super().decimal_schema(schema)
        limits = [
            f"{name.replace('_', ' ')} {schema[name]}"
            for name in ("max_digits", "decimal_places")
            if schema.get(name) is not None
        ]
        if limits:
            found["description"] = "a decimal (JSON number or string) with " + ", ".join(limits)
        return found


def _id_schema(pattern: str, most: int, least: int = 1) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "minLength": least, "maxLength": most}


def describe(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (FastAPI's) with the use cases' constraints stated; changed in place and returned."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in REQUEST_MODELS:
        generated = model.model_json_schema(ref_template=REF_TEMPLATE, schema_generator=_DecimalLimits)
        schemas.update(generated.pop("$defs", {}))
        schemas[model.__name__] = generated
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                _constrain(parameter, path)
    return document


def _constrain(parameter: dict[str, Any], path: str) -> None:
    name, where = parameter["name"], parameter["in"]
    if where == "path":
        parameter["schema"] = {
            **_id_schema(ID_PATTERN.pattern, 64),
            "title": parameter["schema"].get("title"),
        }
    elif where == "query" and name in ("term_id", "subject_id"):
        parameter["schema"] = _id_schema(ID_PATTERN.pattern, 64)
        if name == "subject_id" and "{term_id}" not in path:
            parameter["description"] = _FILTER_NEEDS_TERM
    elif where == "header" and name == "Idempotency-Key":
        parameter["schema"] = {**parameter["schema"], "pattern": IDEMPOTENCY_KEY_PATTERN.pattern}
