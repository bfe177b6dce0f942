import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyncStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_STATUS_UNSPECIFIED: _ClassVar[SyncStatus]
    SYNC_STATUS_RUNNING: _ClassVar[SyncStatus]
    SYNC_STATUS_SUCCEEDED: _ClassVar[SyncStatus]
    SYNC_STATUS_COMPLETED_WITH_FAILURES: _ClassVar[SyncStatus]
    SYNC_STATUS_FAILED: _ClassVar[SyncStatus]

class BatchStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_STATUS_UNSPECIFIED: _ClassVar[BatchStatus]
    BATCH_STATUS_PENDING: _ClassVar[BatchStatus]
    BATCH_STATUS_SUBMITTING: _ClassVar[BatchStatus]
    BATCH_STATUS_RETRYING: _ClassVar[BatchStatus]
    BATCH_STATUS_DONE: _ClassVar[BatchStatus]
    BATCH_STATUS_FAILED: _ClassVar[BatchStatus]

class RecordStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_STATUS_UNSPECIFIED: _ClassVar[RecordStatus]
    RECORD_STATUS_ACCEPTED: _ClassVar[RecordStatus]
    RECORD_STATUS_REJECTED: _ClassVar[RecordStatus]
SYNC_STATUS_UNSPECIFIED: SyncStatus
SYNC_STATUS_RUNNING: SyncStatus
SYNC_STATUS_SUCCEEDED: SyncStatus
SYNC_STATUS_COMPLETED_WITH_FAILURES: SyncStatus
SYNC_STATUS_FAILED: SyncStatus
BATCH_STATUS_UNSPECIFIED: BatchStatus
BATCH_STATUS_PENDING: BatchStatus
BATCH_STATUS_SUBMITTING: BatchStatus
BATCH_STATUS_RETRYING: BatchStatus
BATCH_STATUS_DONE: BatchStatus
BATCH_STATUS_FAILED: BatchStatus
RECORD_STATUS_UNSPECIFIED: RecordStatus
RECORD_STATUS_ACCEPTED: RecordStatus
RECORD_STATUS_REJECTED: RecordStatus

class SyncRequest(_message.Message):
    __slots__ = ("period", "school_id")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    period: str
    school_id: str
    def __init__(self, period: _Optional[str] = ..., school_id: _Optional[str] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("sync_id", "school_id", "period", "number", "client_batch_id", "records", "status", "attempts", "last_error", "updated_at")
    SYNC_ID_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    sync_id: str
    school_id: str
    period: str
    number: int
    client_batch_id: str
    records: int
    status: BatchStatus
    attempts: int
    last_error: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, sync_id: _Optional[str] = ..., school_id: _Optional[str] = ..., period: _Optional[str] = ..., number: _Optional[int] = ..., client_batch_id: _Optional[str] = ..., records: _Optional[int] = ..., status: _Optional[_Union[BatchStatus, str]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordOutcome(_message.Message):
    __slots__ = ("record_id", "student_id", "status", "reason_code", "reason")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    student_id: str
    status: RecordStatus
    reason_code: str
    reason: str
    def __init__(self, record_id: _Optional[str] = ..., student_id: _Optional[str] = ..., status: _Optional[_Union[RecordStatus, str]] = ..., reason_code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SyncReport(_message.Message):
    __slots__ = ("sync_id", "school_id", "period", "status", "batches_total", "batches_done", "batches_retrying", "batches_failed", "records_total", "records_accepted", "records_rejected", "rejected", "started_at", "finished_at", "started_by", "amendments", "retractions")
    SYNC_ID_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BATCHES_DONE_FIELD_NUMBER: _ClassVar[int]
    BATCHES_RETRYING_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FAILED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    RECORDS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_BY_FIELD_NUMBER: _ClassVar[int]
    AMENDMENTS_FIELD_NUMBER: _ClassVar[int]
    RETRACTIONS_FIELD_NUMBER: _ClassVar[int]
    sync_id: str
    school_id: str
    period: str
    status: SyncStatus
    batches_total: int
    batches_done: int
    batches_retrying: int
    batches_failed: int
    records_total: int
    records_accepted: int
    records_rejected: int
    rejected: _containers.RepeatedCompositeFieldContainer[RecordOutcome]
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    started_by: str
    amendments: ChangeCounts
    retractions: ChangeCounts
    def __init__(self, sync_id: _Optional[str] = ..., school_id: _Optional[str] = ..., period: _Optional[str] = ..., status: _Optional[_Union[SyncStatus, str]] = ..., batches_total: _Optional[int] = ..., batches_done: _Optional[int] = ..., batches_retrying: _Optional[int] = ..., batches_failed: _Optional[int] = ..., records_total: _Optional[int] = ..., records_accepted: _Optional[int] = ..., records_rejected: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RecordOutcome, _Mapping]]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_by: _Optional[str] = ..., amendments: _Optional[_Union[ChangeCounts, _Mapping]] = ..., retractions: _Optional[_Union[ChangeCounts, _Mapping]] = ...) -> None: ...

class ChangeCounts(_message.Message):
    __slots__ = ("sent", "accepted", "rejected", "failed", "replayed")
    SENT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    sent: int
    accepted: int
    rejected: int
    failed: int
    replayed: int
    def __init__(self, sent: _Optional[int] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., failed: _Optional[int] = ..., replayed: _Optional[int] = ...) -> None: ...

class StartSyncRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: SyncRequest
    def __init__(self, request: _Optional[_Union[SyncRequest, _Mapping]] = ...) -> None: ...

class StartSyncResponse(_message.Message):
    __slots__ = ("syncs",)
    SYNCS_FIELD_NUMBER: _ClassVar[int]
    syncs: _containers.RepeatedCompositeFieldContainer[SyncReport]
    def __init__(self, syncs: _Optional[_Iterable[_Union[SyncReport, _Mapping]]] = ...) -> None: ...

class GetSyncProgressRequest(_message.Message):
    __slots__ = ("period", "school_id")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    period: str
    school_id: str
    def __init__(self, period: _Optional[str] = ..., school_id: _Optional[str] = ...) -> None: ...

class GetSyncProgressResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: SyncReport
    def __init__(self, progress: _Optional[_Union[SyncReport, _Mapping]] = ...) -> None: ...

class ListSyncsRequest(_message.Message):
    __slots__ = ("period", "school_id")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    period: str
    school_id: str
    def __init__(self, period: _Optional[str] = ..., school_id: _Optional[str] = ...) -> None: ...

class ListSyncsResponse(_message.Message):
    __slots__ = ("syncs",)
    SYNCS_FIELD_NUMBER: _ClassVar[int]
    syncs: _containers.RepeatedCompositeFieldContainer[SyncReport]
    def __init__(self, syncs: _Optional[_Iterable[_Union[SyncReport, _Mapping]]] = ...) -> None: ...

class ListFailedBatchesRequest(_message.Message):
    __slots__ = ("period", "school_id")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    period: str
    school_id: str
    def __init__(self, period: _Optional[str] = ..., school_id: _Optional[str] = ...) -> None: ...

class ListFailedBatchesResponse(_message.Message):
    __slots__ = ("batches",)
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[Batch]
    def __init__(self, batches: _Optional[_Iterable[_Union[Batch, _Mapping]]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("message_id", "school_id", "period", "sync_id", "number", "client_batch_id", "records", "error", "correlation_id")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    SYNC_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    school_id: str
    period: str
    sync_id: str
    number: int
    client_batch_id: str
    records: int
    error: str
    correlation_id: str
    def __init__(self, message_id: _Optional[str] = ..., school_id: _Optional[str] = ..., period: _Optional[str] = ..., sync_id: _Optional[str] = ..., number: _Optional[int] = ..., client_batch_id: _Optional[str] = ..., records: _Optional[int] = ..., error: _Optional[str] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("school_id", "period")
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    school_id: str
    period: str
    def __init__(self, school_id: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters",)
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ...) -> None: ...

class RedriveDeadLettersRequest(_message.Message):
    __slots__ = ("school_id", "message_ids")
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    school_id: str
    message_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, school_id: _Optional[str] = ..., message_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RedriveDeadLettersResponse(_message.Message):
    __slots__ = ("batches", "execution_names", "messages_removed", "correlation_id")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    batches: int
    execution_names: _containers.RepeatedScalarFieldContainer[str]
    messages_removed: int
    correlation_id: str
    def __init__(self, batches: _Optional[int] = ..., execution_names: _Optional[_Iterable[str]] = ..., messages_removed: _Optional[int] = ..., correlation_id: _Optional[str] = ...) -> None: ...
