"""The grading REST API's OpenAPI document, stating what the use cases enforce beyond the models.

FastAPI writes the routes and models; this adds what only the use cases check, from their own
constants: the id pattern of every path parameter, the Idempotency-Key's characters, the decimal
limits of request bodies (pydantic's validation pattern for their string form, ``multipleOf`` grids
for their number form), that ``subject_id`` filters need ``term_id`` and that a change names its
version (If-Match, required: 428 without it).
"""

from decimal import Decimal
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
_EXPONENT_FORM = "|(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)[eE][+-]?[0-9]+"
_FILTER_NEEDS_TERM = "filters by subject; needs term_id (without it: 400 validation)"


class _DecimalLimits(GenerateJsonSchema):
    """Decimals whose both forms carry their digit limits: the string form pydantic's own validation
    pattern, the number form one ``multipleOf`` grid per count of decimal places (see ``digit_grids``)."""

    def get_decimal_pattern(self, schema: core_schema.DecimalSchema) -> str | None:
        pattern = self.build_decimal_pattern(schema)
        if pattern is not None and schema.get("max_digits") is not None:
            # pydantic's exponent form counts no digits ("1e9" has ten): documented, it would promise
            # strings the limit refuses. Plain decimals are the documented string form.
            if _EXPONENT_FORM not in pattern:
                raise ValueError(f"pydantic's decimal pattern changed: {pattern}")
            pattern = pattern.replace(_EXPONENT_FORM, "")
        return pattern

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        found = super().decimal_schema(schema)
        most = schema.get("max_digits")
        bounded = any(schema.get(bound) is not None for bound in ("gt", "ge", "lt", "le"))
        if bounded:
            pattern = _weight_pattern(schema)
            for form in found["anyOf"]:
                if form.get("type") == "string":
                    form["pattern"] = pattern
        if most is not None:
            found["anyOf"] = [
                grid
                for form in found["anyOf"]
                for grid in (
                    digit_grids(form, most, schema.get("decimal_places"))
                    if form.get("type") == "number"
                    else [form]
                )
            ]
        limits = [
            f"{name.replace('_', ' ')} {schema[name]}"
            for name in ("max_digits", "decimal_places")
            if schema.get(name) is not None
        ]
        if limits:
            found["description"] = "a decimal (JSON number or string) with " + ", ".join(limits)
        return found


def _weight_pattern(schema: core_schema.DecimalSchema) -> str:
    """The plain decimals in (0, 100] with at most ``decimal_places`` places: the only bounded decimal
    of the API (a weight). pydantic's pattern knows digits, not bounds; any other bound is refused
    here rather than documented wrong."""
    places = schema.get("decimal_places")
    if (schema.get("gt"), schema.get("le"), schema.get("ge"), schema.get("lt")) != (
        0,
        100,
        None,
        None,
    ) or not places:
        raise ValueError(f"no string pattern for the decimal bounds of {schema}")
    fraction = f"(?:\\.[0-9]{{1,{places}}})?"
    # 0.001 .. 0.999: some non-zero digit among the places.
    below_one = "|".join(f"0{{{zeros}}}[1-9][0-9]{{0,{places - zeros - 1}}}" for zeros in range(places))
    return f"^(?:100(?:\\.0{{1,{places}}})?|[1-9][0-9]?{fraction}|0?\\.(?:{below_one}))$"


def digit_grids(number: dict[str, Any], most: int, places: int | None) -> list[dict[str, Any]]:
    """The JSON numbers with at most ``most`` digits (``places`` of them after the point at most),
    within ``number``'s bounds: for each count k of decimal places, the multiples of 10^-k below
    10^(most-k). A grid the next one covers within the bounds is left out."""
    top = places if places is not None else most
    low = number.get("minimum", number.get("exclusiveMinimum"))
    high = number.get("maximum", number.get("exclusiveMaximum"))
    reach = max(abs(Decimal(str(v))) for v in (low, high)) if low is not None and high is not None else None
    grids: list[dict[str, Any]] = []
    for k in range(top + 1):
        step = Decimal(1).scaleb(-k)
        limit = Decimal(10) ** (most - k) - step
        wider = Decimal(10) ** (most - k - 1) - step / 10
        if k < top and reach is not None and wider >= reach:
            continue  # the k+1 grid holds every multiple of 10^-k within the bounds
        grid: dict[str, Any] = {**number, "multipleOf": float(step) if k else 1}
        if "minimum" not in number and "exclusiveMinimum" not in number:
            grid["minimum"] = -float(limit)
        if "maximum" not in number and "exclusiveMaximum" not in number:
            grid["maximum"] = float(limit)
        grids.append(grid)
    return grids


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
    elif where == "header" and name == "If-Match":
        # Optional to FastAPI only so that its absence is a 428 (precondition-required), not a 400;
        # no change happens without it. A value that names no current version is a 412.
        parameter["required"] = True
        parameter["schema"] = {"type": "string", "title": "If-Match"}
    elif where == "header" and name == "Idempotency-Key":
        parameter["schema"] = {**parameter["schema"], "pattern": IDEMPOTENCY_KEY_PATTERN.pattern}
