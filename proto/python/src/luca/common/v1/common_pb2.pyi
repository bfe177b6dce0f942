from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    ERROR_REASON_VALIDATION: _ClassVar[ErrorReason]
    ERROR_REASON_SCORE_OUT_OF_SCALE: _ClassVar[ErrorReason]
    ERROR_REASON_UNKNOWN_STUDENT: _ClassVar[ErrorReason]
    ERROR_REASON_UNKNOWN_SUBJECT: _ClassVar[ErrorReason]
    ERROR_REASON_UNKNOWN_COURSE: _ClassVar[ErrorReason]
    ERROR_REASON_FORBIDDEN: _ClassVar[ErrorReason]
    ERROR_REASON_UNAUTHENTICATED: _ClassVar[ErrorReason]
    ERROR_REASON_IDEMPOTENCY_KEY_REUSED: _ClassVar[ErrorReason]
    ERROR_REASON_RATE_LIMITED: _ClassVar[ErrorReason]
    ERROR_REASON_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_VERSION_MISMATCH: _ClassVar[ErrorReason]
    ERROR_REASON_PRECONDITION_REQUIRED: _ClassVar[ErrorReason]
    ERROR_REASON_TERM_CLOSED: _ClassVar[ErrorReason]
    ERROR_REASON_UNKNOWN_TERM: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_CURSOR: _ClassVar[ErrorReason]
    ERROR_REASON_RETRACTED: _ClassVar[ErrorReason]
ERROR_REASON_UNSPECIFIED: ErrorReason
ERROR_REASON_VALIDATION: ErrorReason
ERROR_REASON_SCORE_OUT_OF_SCALE: ErrorReason
ERROR_REASON_UNKNOWN_STUDENT: ErrorReason
ERROR_REASON_UNKNOWN_SUBJECT: ErrorReason
ERROR_REASON_UNKNOWN_COURSE: ErrorReason
ERROR_REASON_FORBIDDEN: ErrorReason
ERROR_REASON_UNAUTHENTICATED: ErrorReason
ERROR_REASON_IDEMPOTENCY_KEY_REUSED: ErrorReason
ERROR_REASON_RATE_LIMITED: ErrorReason
ERROR_REASON_NOT_FOUND: ErrorReason
ERROR_REASON_VERSION_MISMATCH: ErrorReason
ERROR_REASON_PRECONDITION_REQUIRED: ErrorReason
ERROR_REASON_TERM_CLOSED: ErrorReason
ERROR_REASON_UNKNOWN_TERM: ErrorReason
ERROR_REASON_INVALID_CURSOR: ErrorReason
ERROR_REASON_RETRACTED: ErrorReason

class Decimal(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: str
    def __init__(self, value: _Optional[str] = ...) -> None: ...

class PageRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class PageResponse(_message.Message):
    __slots__ = ("next_page_token",)
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    def __init__(self, next_page_token: _Optional[str] = ...) -> None: ...
