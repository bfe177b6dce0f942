import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StudentEvent(_message.Message):
    __slots__ = ("event_id", "student_id", "course_id", "subject_id", "occurred_at", "schema_version", "exercise_submission")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXERCISE_SUBMISSION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    student_id: str
    course_id: str
    subject_id: str
    occurred_at: _timestamp_pb2.Timestamp
    schema_version: int
    exercise_submission: ExerciseSubmission
    def __init__(self, event_id: _Optional[str] = ..., student_id: _Optional[str] = ..., course_id: _Optional[str] = ..., subject_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., schema_version: _Optional[int] = ..., exercise_submission: _Optional[_Union[ExerciseSubmission, _Mapping]] = ...) -> None: ...

class ExerciseSubmission(_message.Message):
    __slots__ = ("exercise_id", "answers", "score")
    EXERCISE_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    exercise_id: str
    answers: AnswerSheet
    score: str
    def __init__(self, exercise_id: _Optional[str] = ..., answers: _Optional[_Union[AnswerSheet, _Mapping]] = ..., score: _Optional[str] = ...) -> None: ...

class AnswerSheet(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Answer]
    def __init__(self, items: _Optional[_Iterable[_Union[Answer, _Mapping]]] = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("question_id", "correct")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    correct: bool
    def __init__(self, question_id: _Optional[str] = ..., correct: _Optional[bool] = ...) -> None: ...

class SubmitEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[StudentEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[StudentEvent, _Mapping]]] = ...) -> None: ...

class SubmitEventsResponse(_message.Message):
    __slots__ = ("event_ids",)
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    event_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_ids: _Optional[_Iterable[str]] = ...) -> None: ...
