import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from luca.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScaleKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALE_KIND_UNSPECIFIED: _ClassVar[ScaleKind]
    SCALE_KIND_CHILEAN: _ClassVar[ScaleKind]
    SCALE_KIND_PERCENTAGE: _ClassVar[ScaleKind]

class Rounding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUNDING_UNSPECIFIED: _ClassVar[Rounding]
    ROUNDING_HALF_UP: _ClassVar[Rounding]
    ROUNDING_HALF_EVEN: _ClassVar[Rounding]
    ROUNDING_DOWN: _ClassVar[Rounding]

class BehaviorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BEHAVIOR_KIND_UNSPECIFIED: _ClassVar[BehaviorKind]
    BEHAVIOR_KIND_POSITIVE: _ClassVar[BehaviorKind]
    BEHAVIOR_KIND_NEGATIVE: _ClassVar[BehaviorKind]

class ChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_KIND_UNSPECIFIED: _ClassVar[ChangeKind]
    CHANGE_KIND_CORRECTED: _ClassVar[ChangeKind]
    CHANGE_KIND_RETRACTED: _ClassVar[ChangeKind]
SCALE_KIND_UNSPECIFIED: ScaleKind
SCALE_KIND_CHILEAN: ScaleKind
SCALE_KIND_PERCENTAGE: ScaleKind
ROUNDING_UNSPECIFIED: Rounding
ROUNDING_HALF_UP: Rounding
ROUNDING_HALF_EVEN: Rounding
ROUNDING_DOWN: Rounding
BEHAVIOR_KIND_UNSPECIFIED: BehaviorKind
BEHAVIOR_KIND_POSITIVE: BehaviorKind
BEHAVIOR_KIND_NEGATIVE: BehaviorKind
CHANGE_KIND_UNSPECIFIED: ChangeKind
CHANGE_KIND_CORRECTED: ChangeKind
CHANGE_KIND_RETRACTED: ChangeKind

class Evaluation(_message.Message):
    __slots__ = ("evaluation_id", "student_id", "course_id", "subject_id", "term_id", "score", "weight", "teacher_id", "recorded_at", "description", "version", "retracted", "updated_at")
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TEACHER_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RETRACTED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    student_id: str
    course_id: str
    subject_id: str
    term_id: str
    score: _common_pb2.Decimal
    weight: _common_pb2.Decimal
    teacher_id: str
    recorded_at: _timestamp_pb2.Timestamp
    description: str
    version: int
    retracted: bool
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, evaluation_id: _Optional[str] = ..., student_id: _Optional[str] = ..., course_id: _Optional[str] = ..., subject_id: _Optional[str] = ..., term_id: _Optional[str] = ..., score: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., weight: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., teacher_id: _Optional[str] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., description: _Optional[str] = ..., version: _Optional[int] = ..., retracted: _Optional[bool] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubjectAverage(_message.Message):
    __slots__ = ("subject_id", "term_id", "weighted_average", "passing", "evaluation_count")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    PASSING_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    term_id: str
    weighted_average: _common_pb2.Decimal
    passing: bool
    evaluation_count: int
    def __init__(self, subject_id: _Optional[str] = ..., term_id: _Optional[str] = ..., weighted_average: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., passing: _Optional[bool] = ..., evaluation_count: _Optional[int] = ...) -> None: ...

class RecordEvaluationRequest(_message.Message):
    __slots__ = ("request_id", "student_id", "course_id", "subject_id", "term_id", "score", "weight", "description")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    student_id: str
    course_id: str
    subject_id: str
    term_id: str
    score: _common_pb2.Decimal
    weight: _common_pb2.Decimal
    description: str
    def __init__(self, request_id: _Optional[str] = ..., student_id: _Optional[str] = ..., course_id: _Optional[str] = ..., subject_id: _Optional[str] = ..., term_id: _Optional[str] = ..., score: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., weight: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class RecordEvaluationResponse(_message.Message):
    __slots__ = ("evaluation", "replayed")
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    replayed: bool
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class ListStudentEvaluationsRequest(_message.Message):
    __slots__ = ("student_id", "term_id", "subject_id")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    term_id: str
    subject_id: str
    def __init__(self, student_id: _Optional[str] = ..., term_id: _Optional[str] = ..., subject_id: _Optional[str] = ...) -> None: ...

class ListStudentEvaluationsResponse(_message.Message):
    __slots__ = ("evaluations", "averages")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    AVERAGES_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[Evaluation]
    averages: _containers.RepeatedCompositeFieldContainer[SubjectAverage]
    def __init__(self, evaluations: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ..., averages: _Optional[_Iterable[_Union[SubjectAverage, _Mapping]]] = ...) -> None: ...

class ListCourseGradesRequest(_message.Message):
    __slots__ = ("course_id", "term_id", "subject_id")
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    course_id: str
    term_id: str
    subject_id: str
    def __init__(self, course_id: _Optional[str] = ..., term_id: _Optional[str] = ..., subject_id: _Optional[str] = ...) -> None: ...

class ListCourseGradesResponse(_message.Message):
    __slots__ = ("evaluations", "averages")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    AVERAGES_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[Evaluation]
    averages: _containers.RepeatedCompositeFieldContainer[StudentAverage]
    def __init__(self, evaluations: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ..., averages: _Optional[_Iterable[_Union[StudentAverage, _Mapping]]] = ...) -> None: ...

class StudentAverage(_message.Message):
    __slots__ = ("student_id", "average")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    average: SubjectAverage
    def __init__(self, student_id: _Optional[str] = ..., average: _Optional[_Union[SubjectAverage, _Mapping]] = ...) -> None: ...

class BehaviorNote(_message.Message):
    __slots__ = ("note_id", "student_id", "course_id", "kind", "text", "teacher_id", "recorded_at")
    NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TEACHER_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    note_id: str
    student_id: str
    course_id: str
    kind: BehaviorKind
    text: str
    teacher_id: str
    recorded_at: _timestamp_pb2.Timestamp
    def __init__(self, note_id: _Optional[str] = ..., student_id: _Optional[str] = ..., course_id: _Optional[str] = ..., kind: _Optional[_Union[BehaviorKind, str]] = ..., text: _Optional[str] = ..., teacher_id: _Optional[str] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordBehaviorNoteRequest(_message.Message):
    __slots__ = ("request_id", "student_id", "course_id", "kind", "text")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    student_id: str
    course_id: str
    kind: BehaviorKind
    text: str
    def __init__(self, request_id: _Optional[str] = ..., student_id: _Optional[str] = ..., course_id: _Optional[str] = ..., kind: _Optional[_Union[BehaviorKind, str]] = ..., text: _Optional[str] = ...) -> None: ...

class RecordBehaviorNoteResponse(_message.Message):
    __slots__ = ("note", "replayed")
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    note: BehaviorNote
    replayed: bool
    def __init__(self, note: _Optional[_Union[BehaviorNote, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class GetBehaviorProfileRequest(_message.Message):
    __slots__ = ("student_id",)
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    def __init__(self, student_id: _Optional[str] = ...) -> None: ...

class GetBehaviorProfileResponse(_message.Message):
    __slots__ = ("student_id", "positive_count", "negative_count", "recent_notes")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    RECENT_NOTES_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    positive_count: int
    negative_count: int
    recent_notes: _containers.RepeatedCompositeFieldContainer[BehaviorNote]
    def __init__(self, student_id: _Optional[str] = ..., positive_count: _Optional[int] = ..., negative_count: _Optional[int] = ..., recent_notes: _Optional[_Iterable[_Union[BehaviorNote, _Mapping]]] = ...) -> None: ...

class GradingRule(_message.Message):
    __slots__ = ("subject_id", "scale", "passing_grade", "rounding", "decimals", "default_weight", "updated_at")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    PASSING_GRADE_FIELD_NUMBER: _ClassVar[int]
    ROUNDING_FIELD_NUMBER: _ClassVar[int]
    DECIMALS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    scale: ScaleKind
    passing_grade: _common_pb2.Decimal
    rounding: Rounding
    decimals: int
    default_weight: _common_pb2.Decimal
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, subject_id: _Optional[str] = ..., scale: _Optional[_Union[ScaleKind, str]] = ..., passing_grade: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., rounding: _Optional[_Union[Rounding, str]] = ..., decimals: _Optional[int] = ..., default_weight: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetGradingRuleRequest(_message.Message):
    __slots__ = ("subject_id",)
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ...) -> None: ...

class GetGradingRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: GradingRule
    def __init__(self, rule: _Optional[_Union[GradingRule, _Mapping]] = ...) -> None: ...

class PutGradingRuleRequest(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: GradingRule
    def __init__(self, rule: _Optional[_Union[GradingRule, _Mapping]] = ...) -> None: ...

class PutGradingRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: GradingRule
    def __init__(self, rule: _Optional[_Union[GradingRule, _Mapping]] = ...) -> None: ...

class GetEvaluationRequest(_message.Message):
    __slots__ = ("student_id", "evaluation_id")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    evaluation_id: str
    def __init__(self, student_id: _Optional[str] = ..., evaluation_id: _Optional[str] = ...) -> None: ...

class GetEvaluationResponse(_message.Message):
    __slots__ = ("evaluation",)
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ...) -> None: ...

class CorrectEvaluationRequest(_message.Message):
    __slots__ = ("request_id", "student_id", "evaluation_id", "expected_version", "score", "weight", "description", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    student_id: str
    evaluation_id: str
    expected_version: int
    score: _common_pb2.Decimal
    weight: _common_pb2.Decimal
    description: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., student_id: _Optional[str] = ..., evaluation_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., score: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., weight: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., description: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CorrectEvaluationResponse(_message.Message):
    __slots__ = ("evaluation", "replayed")
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    replayed: bool
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class RetractEvaluationRequest(_message.Message):
    __slots__ = ("request_id", "student_id", "evaluation_id", "expected_version", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    student_id: str
    evaluation_id: str
    expected_version: int
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., student_id: _Optional[str] = ..., evaluation_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RetractEvaluationResponse(_message.Message):
    __slots__ = ("evaluation", "replayed")
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    replayed: bool
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class GetEvaluationHistoryRequest(_message.Message):
    __slots__ = ("student_id", "evaluation_id")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    evaluation_id: str
    def __init__(self, student_id: _Optional[str] = ..., evaluation_id: _Optional[str] = ...) -> None: ...

class GradeValues(_message.Message):
    __slots__ = ("score", "weight", "description")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    score: _common_pb2.Decimal
    weight: _common_pb2.Decimal
    description: str
    def __init__(self, score: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., weight: _Optional[_Union[_common_pb2.Decimal, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class EvaluationChange(_message.Message):
    __slots__ = ("version", "kind", "changed_by", "changed_at", "reason", "correlation_id", "before", "after")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    version: int
    kind: ChangeKind
    changed_by: str
    changed_at: _timestamp_pb2.Timestamp
    reason: str
    correlation_id: str
    before: GradeValues
    after: GradeValues
    def __init__(self, version: _Optional[int] = ..., kind: _Optional[_Union[ChangeKind, str]] = ..., changed_by: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., correlation_id: _Optional[str] = ..., before: _Optional[_Union[GradeValues, _Mapping]] = ..., after: _Optional[_Union[GradeValues, _Mapping]] = ...) -> None: ...

class GetEvaluationHistoryResponse(_message.Message):
    __slots__ = ("evaluation", "changes")
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    changes: _containers.RepeatedCompositeFieldContainer[EvaluationChange]
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ..., changes: _Optional[_Iterable[_Union[EvaluationChange, _Mapping]]] = ...) -> None: ...

class Term(_message.Message):
    __slots__ = ("term_id", "name", "closed", "closed_at", "closed_by")
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    CLOSED_BY_FIELD_NUMBER: _ClassVar[int]
    term_id: str
    name: str
    closed: bool
    closed_at: _timestamp_pb2.Timestamp
    closed_by: str
    def __init__(self, term_id: _Optional[str] = ..., name: _Optional[str] = ..., closed: _Optional[bool] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., closed_by: _Optional[str] = ...) -> None: ...

class PutTermRequest(_message.Message):
    __slots__ = ("term_id", "name")
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    term_id: str
    name: str
    def __init__(self, term_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class PutTermResponse(_message.Message):
    __slots__ = ("term",)
    TERM_FIELD_NUMBER: _ClassVar[int]
    term: Term
    def __init__(self, term: _Optional[_Union[Term, _Mapping]] = ...) -> None: ...

class CloseTermRequest(_message.Message):
    __slots__ = ("term_id",)
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    term_id: str
    def __init__(self, term_id: _Optional[str] = ...) -> None: ...

class CloseTermResponse(_message.Message):
    __slots__ = ("term",)
    TERM_FIELD_NUMBER: _ClassVar[int]
    term: Term
    def __init__(self, term: _Optional[_Union[Term, _Mapping]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("teacher_id", "course_id", "subject_id", "assigned_at", "assigned_by")
    TEACHER_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_BY_FIELD_NUMBER: _ClassVar[int]
    teacher_id: str
    course_id: str
    subject_id: str
    assigned_at: _timestamp_pb2.Timestamp
    assigned_by: str
    def __init__(self, teacher_id: _Optional[str] = ..., course_id: _Optional[str] = ..., subject_id: _Optional[str] = ..., assigned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assigned_by: _Optional[str] = ...) -> None: ...

class AssignTeacherRequest(_message.Message):
    __slots__ = ("teacher_id", "course_id", "subject_id")
    TEACHER_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    teacher_id: str
    course_id: str
    subject_id: str
    def __init__(self, teacher_id: _Optional[str] = ..., course_id: _Optional[str] = ..., subject_id: _Optional[str] = ...) -> None: ...

class AssignTeacherResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ...) -> None: ...

class UnassignTeacherRequest(_message.Message):
    __slots__ = ("teacher_id", "course_id", "subject_id")
    TEACHER_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    teacher_id: str
    course_id: str
    subject_id: str
    def __init__(self, teacher_id: _Optional[str] = ..., course_id: _Optional[str] = ..., subject_id: _Optional[str] = ...) -> None: ...

class UnassignTeacherResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
