"""What a contract field must meet, read off its protovalidate rules (``buf.validate``), in the forms
the other front doors speak: JSON Schema keywords (the edge's request models, the gateway, the
grade processor) and pydantic ``Field`` arguments (the REST models). One set of annotations in
``proto/``, so gRPC, REST and the edge refuse the same inputs.

Only the rules the contracts use are translated (required, string length and pattern, repeated
item counts, numeric bounds and allowed values); a field carrying any other rule is refused loudly, not half-copied.
Works on descriptors of any pool: the generated stubs' and the one ``scripts/gen_proto.py`` builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, OneofDescriptor
from google.protobuf.message import Message

FIELD_RULES = "buf.validate.field"
ONEOF_RULES = "buf.validate.oneof"
_IGNORE_IF_ZERO_VALUE = 1  # buf.validate.Ignore
_STRING_RULES = {"pattern", "min_len", "max_len"}
_REPEATED_RULES = {"min_items", "max_items"}
_NUMBER_RULES = {"gte", "lte", "gt", "lt", "finite", "in"}
_ENUM_RULES = {"defined_only", "not_in"}


@dataclass(frozen=True, slots=True)
class FieldConstraints:
    """A field's rules, named as protovalidate names them."""

    required: bool = False
    # IGNORE_IF_ZERO_VALUE: the empty value is allowed whatever the other rules say.
    empty_allowed: bool = False
    pattern: str | None = None
    min_len: int | None = None
    max_len: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    gte: float | None = None
    lte: float | None = None
    gt: float | None = None
    lt: float | None = None
    # A number's ``in``: the only values allowed.
    allowed: tuple[float, ...] | None = None

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema keywords for the field's value (draft-04 spelling; what API Gateway speaks).
        ``required`` is the enclosing object's business: see ``in_required_list``."""
        keywords: dict[str, Any] = {}
        if self.pattern is not None:
            keywords["pattern"] = self.full_pattern
        if self.min_len is not None or self.required:
            keywords["minLength"] = max(self.min_len or 0, 1 if self.required else 0)
        if self.max_len is not None:
            keywords["maxLength"] = self.max_len
        if self.min_items is not None:
            keywords["minItems"] = self.min_items
        if self.max_items is not None:
            keywords["maxItems"] = self.max_items
        if self.allowed is not None:
            keywords["enum"] = list(self.allowed)
        for rule, keyword in (("gte", "minimum"), ("lte", "maximum"), ("gt", "minimum"), ("lt", "maximum")):
            value = getattr(self, rule)
            if value is not None:
                keywords[keyword] = value
                if rule in ("gt", "lt"):
                    keywords[f"exclusive{keyword.capitalize()}"] = True
        return keywords

    @property
    def full_pattern(self) -> str | None:
        """The pattern, letting the empty value through when the rules ignore it."""
        if self.pattern is None or not self.empty_allowed:
            return self.pattern
        return f"^$|{self.pattern}"

    @property
    def in_required_list(self) -> bool:
        """Whether the JSON object must name the field: required, or a list that may not be empty."""
        return self.required or bool(self.min_items)

    def pydantic(self) -> dict[str, Any]:
        """``pydantic.Field`` arguments enforcing the same rules on a REST model's field."""
        if self.allowed is not None:
            # Field has no argument for it; a Literal of the values is the model's spelling.
            raise ValueError("an `in` rule has no pydantic.Field spelling: type the field as a Literal")
        kwargs: dict[str, Any] = {}
        if self.pattern is not None:
            kwargs["pattern"] = self.full_pattern
        min_length = max(self.min_len or 0, 1 if self.required else 0, self.min_items or 0)
        if min_length:
            kwargs["min_length"] = min_length
        max_length = self.max_len if self.max_len is not None else self.max_items
        if max_length is not None:
            kwargs["max_length"] = max_length
        for rule, name in (("gte", "ge"), ("lte", "le"), ("gt", "gt"), ("lt", "lt")):
            if getattr(self, rule) is not None:
                kwargs[name] = getattr(self, rule)
        return kwargs


def rules_extension(descriptor: FieldDescriptor | OneofDescriptor, name: str) -> Message | None:
    """The ``name`` option (``buf.validate.field`` / ``.oneof``) of ``descriptor``, or None.

    The options are re-read in the descriptor's own pool when the extension lives there and the
    parsed options do not (a pool built from a descriptor set, as gen_proto's)."""
    message = descriptor.containing_type
    pool = message.file.pool
    try:
        extension = pool.FindExtensionByName(name)
    except KeyError:  # the contract imports no buf.validate: it has no rules
        return None
    options = descriptor.GetOptions()
    if options.DESCRIPTOR is not extension.containing_type:
        options_type = message_factory.GetMessageClass(extension.containing_type)
        options = options_type.FromString(options.SerializeToString())
    if not options.HasExtension(extension):
        return None
    found: Message = options.Extensions[extension]
    return found


def field_constraints(field: FieldDescriptor) -> FieldConstraints:
    # Any: a buf.validate.FieldRules of whichever pool the descriptor came from.
    rules: Any = rules_extension(field, FIELD_RULES)
    if rules is None:
        return FieldConstraints()
    values: dict[str, Any] = {
        "required": bool(rules.required),
        "empty_allowed": rules.ignore == _IGNORE_IF_ZERO_VALUE,
    }
    kind = rules.WhichOneof("type")
    if kind is not None:
        typed: Message = getattr(rules, kind)
        allowed = (
            _STRING_RULES
            if kind == "string"
            else _REPEATED_RULES
            if kind == "repeated"
            else _ENUM_RULES
            if kind == "enum"
            else _NUMBER_RULES
        )
        for descriptor, value in typed.ListFields():
            if descriptor.name not in allowed:
                raise ValueError(f"{field.full_name}: no translation for the rule {kind}.{descriptor.name}")
            if descriptor.name in ("finite", "defined_only", "not_in"):
                continue  # no JSON or pydantic spelling; gRPC enforces them, JSON/REST types do too
            if descriptor.name == "in":
                values["allowed"] = tuple(value)
                continue
            values[descriptor.name] = value
    return FieldConstraints(**values)


def oneof_required(oneof: OneofDescriptor) -> bool:
    rules: Any = rules_extension(oneof, ONEOF_RULES)
    return rules is not None and bool(rules.required)


def pydantic_field(message: Descriptor, name: str) -> dict[str, Any]:
    """``pydantic.Field(**pydantic_field(pb2.Message.DESCRIPTOR, "student_id"))``: the REST model's
    field refuses what the contract's field refuses."""
    return field_constraints(message.fields_by_name[name]).pydantic()
