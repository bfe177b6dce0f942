import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LakeRecord(_message.Message):
    __slots__ = ("school_id", "year", "month", "item_type", "change", "changed_at", "record_id", "student_key", "course_id", "subject_id", "term_id", "score", "weight", "behavior_kind", "passing", "occurred_at", "source_schema_version", "version", "retracted", "sequence_number", "correlation_id")
    SCHOOL_ID_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    ITEM_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_KEY_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOR_KIND_FIELD_NUMBER: _ClassVar[int]
    PASSING_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RETRACTED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    school_id: str
    year: int
    month: int
    item_type: str
    change: str
    changed_at: _timestamp_pb2.Timestamp
    record_id: str
    student_key: str
    course_id: str
    subject_id: str
    term_id: str
    score: float
    weight: float
    behavior_kind: str
    passing: bool
    occurred_at: _timestamp_pb2.Timestamp
    source_schema_version: int
    version: int
    retracted: bool
    sequence_number: str
    correlation_id: str
    def __init__(self, school_id: _Optional[str] = ..., year: _Optional[int] = ..., month: _Optional[int] = ..., item_type: _Optional[str] = ..., change: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., record_id: _Optional[str] = ..., student_key: _Optional[str] = ..., course_id: _Optional[str] = ..., subject_id: _Optional[str] = ..., term_id: _Optional[str] = ..., score: _Optional[float] = ..., weight: _Optional[float] = ..., behavior_kind: _Optional[str] = ..., passing: _Optional[bool] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source_schema_version: _Optional[int] = ..., version: _Optional[int] = ..., retracted: _Optional[bool] = ..., sequence_number: _Optional[str] = ..., correlation_id: _Optional[str] = ...) -> None: ...

class SubjectAveragesRequest(_message.Message):
    __slots__ = ("term_id",)
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    term_id: str
    def __init__(self, term_id: _Optional[str] = ...) -> None: ...

class SubjectAverage(_message.Message):
    __slots__ = ("subject_id", "term_id", "weighted_average", "grades", "students")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    GRADES_FIELD_NUMBER: _ClassVar[int]
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    term_id: str
    weighted_average: float
    grades: int
    students: int
    def __init__(self, subject_id: _Optional[str] = ..., term_id: _Optional[str] = ..., weighted_average: _Optional[float] = ..., grades: _Optional[int] = ..., students: _Optional[int] = ...) -> None: ...

class SubjectAveragesResponse(_message.Message):
    __slots__ = ("averages",)
    AVERAGES_FIELD_NUMBER: _ClassVar[int]
    averages: _containers.RepeatedCompositeFieldContainer[SubjectAverage]
    def __init__(self, averages: _Optional[_Iterable[_Union[SubjectAverage, _Mapping]]] = ...) -> None: ...

class StudentsBelowPassingRequest(_message.Message):
    __slots__ = ("term_id", "subject_id")
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    term_id: str
    subject_id: str
    def __init__(self, term_id: _Optional[str] = ..., subject_id: _Optional[str] = ...) -> None: ...

class StudentBelowPassing(_message.Message):
    __slots__ = ("student_id", "subject_id", "weighted_average", "passing_grade", "grades")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    PASSING_GRADE_FIELD_NUMBER: _ClassVar[int]
    GRADES_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    subject_id: str
    weighted_average: float
    passing_grade: float
    grades: int
    def __init__(self, student_id: _Optional[str] = ..., subject_id: _Optional[str] = ..., weighted_average: _Optional[float] = ..., passing_grade: _Optional[float] = ..., grades: _Optional[int] = ...) -> None: ...

class StudentsBelowPassingResponse(_message.Message):
    __slots__ = ("students",)
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    students: _containers.RepeatedCompositeFieldContainer[StudentBelowPassing]
    def __init__(self, students: _Optional[_Iterable[_Union[StudentBelowPassing, _Mapping]]] = ...) -> None: ...

class BehaviorTrendRequest(_message.Message):
    __slots__ = ("from_month", "to_month")
    FROM_MONTH_FIELD_NUMBER: _ClassVar[int]
    TO_MONTH_FIELD_NUMBER: _ClassVar[int]
    from_month: str
    to_month: str
    def __init__(self, from_month: _Optional[str] = ..., to_month: _Optional[str] = ...) -> None: ...

class BehaviorMonth(_message.Message):
    __slots__ = ("month", "positive", "negative")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    month: str
    positive: int
    negative: int
    def __init__(self, month: _Optional[str] = ..., positive: _Optional[int] = ..., negative: _Optional[int] = ...) -> None: ...

class BehaviorTrendResponse(_message.Message):
    __slots__ = ("months",)
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    months: _containers.RepeatedCompositeFieldContainer[BehaviorMonth]
    def __init__(self, months: _Optional[_Iterable[_Union[BehaviorMonth, _Mapping]]] = ...) -> None: ...

class GradeDistributionRequest(_message.Message):
    __slots__ = ("term_id", "subject_id", "bucket_width")
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKET_WIDTH_FIELD_NUMBER: _ClassVar[int]
    term_id: str
    subject_id: str
    bucket_width: float
    def __init__(self, term_id: _Optional[str] = ..., subject_id: _Optional[str] = ..., bucket_width: _Optional[float] = ...) -> None: ...

class GradeBucket(_message.Message):
    __slots__ = ("from_score", "to_score", "grades")
    FROM_SCORE_FIELD_NUMBER: _ClassVar[int]
    TO_SCORE_FIELD_NUMBER: _ClassVar[int]
    GRADES_FIELD_NUMBER: _ClassVar[int]
    from_score: float
    to_score: float
    grades: int
    def __init__(self, from_score: _Optional[float] = ..., to_score: _Optional[float] = ..., grades: _Optional[int] = ...) -> None: ...

class GradeDistributionResponse(_message.Message):
    __slots__ = ("buckets",)
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    buckets: _containers.RepeatedCompositeFieldContainer[GradeBucket]
    def __init__(self, buckets: _Optional[_Iterable[_Union[GradeBucket, _Mapping]]] = ...) -> None: ...
