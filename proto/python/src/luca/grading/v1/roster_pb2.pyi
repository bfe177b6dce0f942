import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from luca.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RosterCourse(_message.Message):
    __slots__ = ("course_id", "name", "subject_ids")
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    course_id: str
    name: str
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, course_id: _Optional[str] = ..., name: _Optional[str] = ..., subject_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RosterStudent(_message.Message):
    __slots__ = ("student_id", "course_id", "display_name")
    STUDENT_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    student_id: str
    course_id: str
    display_name: str
    def __init__(self, student_id: _Optional[str] = ..., course_id: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class RosterSubject(_message.Message):
    __slots__ = ("subject_id", "name")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    name: str
    def __init__(self, subject_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RosterTerm(_message.Message):
    __slots__ = ("term_id", "name", "closed", "closed_at")
    TERM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    term_id: str
    name: str
    closed: bool
    closed_at: _timestamp_pb2.Timestamp
    def __init__(self, term_id: _Optional[str] = ..., name: _Optional[str] = ..., closed: _Optional[bool] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RosterAssignment(_message.Message):
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

class ListCoursesRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListCoursesResponse(_message.Message):
    __slots__ = ("courses", "page")
    COURSES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    courses: _containers.RepeatedCompositeFieldContainer[RosterCourse]
    page: _common_pb2.PageResponse
    def __init__(self, courses: _Optional[_Iterable[_Union[RosterCourse, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class ListCourseStudentsRequest(_message.Message):
    __slots__ = ("course_id", "page")
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    course_id: str
    page: _common_pb2.PageRequest
    def __init__(self, course_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListCourseStudentsResponse(_message.Message):
    __slots__ = ("students", "page")
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    students: _containers.RepeatedCompositeFieldContainer[RosterStudent]
    page: _common_pb2.PageResponse
    def __init__(self, students: _Optional[_Iterable[_Union[RosterStudent, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class ListSubjectsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListSubjectsResponse(_message.Message):
    __slots__ = ("subjects", "page")
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    subjects: _containers.RepeatedCompositeFieldContainer[RosterSubject]
    page: _common_pb2.PageResponse
    def __init__(self, subjects: _Optional[_Iterable[_Union[RosterSubject, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class ListTermsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListTermsResponse(_message.Message):
    __slots__ = ("terms", "page")
    TERMS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    terms: _containers.RepeatedCompositeFieldContainer[RosterTerm]
    page: _common_pb2.PageResponse
    def __init__(self, terms: _Optional[_Iterable[_Union[RosterTerm, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class ListTeacherAssignmentsRequest(_message.Message):
    __slots__ = ("teacher_id", "page")
    TEACHER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    teacher_id: str
    page: _common_pb2.PageRequest
    def __init__(self, teacher_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListTeacherAssignmentsResponse(_message.Message):
    __slots__ = ("assignments", "page")
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[RosterAssignment]
    page: _common_pb2.PageResponse
    def __init__(self, assignments: _Optional[_Iterable[_Union[RosterAssignment, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...
