from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
LIMITS_FIELD_NUMBER: _ClassVar[int]
limits: _descriptor.FieldDescriptor

class FieldLimits(_message.Message):
    __slots__ = ("required", "max_length", "pattern", "min_items", "max_items")
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    MIN_ITEMS_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    required: bool
    max_length: int
    pattern: str
    min_items: int
    max_items: int
    def __init__(self, required: _Optional[bool] = ..., max_length: _Optional[int] = ..., pattern: _Optional[str] = ..., min_items: _Optional[int] = ..., max_items: _Optional[int] = ...) -> None: ...
