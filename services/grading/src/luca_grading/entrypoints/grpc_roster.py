"""gRPC ``luca.grading.v1.RosterService``: the roster listings for internal clients.

Translation only: the use cases are ``RosterListings``, the same as REST's. ``CallRunner``
authenticates each call, binds its correlation id, turns errors into rich statuses and measures it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from luca.common.v1 import common_pb2
from luca.grading.v1 import roster_pb2, roster_pb2_grpc
from luca_grading.entrypoints.grpc_calls import CallRunner
from luca_grading.service_layer.listings import RosterListings
from luca_kernel.access import Principal

ROSTER_SERVICE_NAME = roster_pb2.DESCRIPTOR.services_by_name["RosterService"].full_name
# The use cases name the paging fields as REST spells them; a gRPC caller is told its request's path.
_PAGE_FIELDS: Mapping[str, str] = {"cursor": "page.page_token", "page_size": "page.page_size"}


def _ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _size(page: common_pb2.PageRequest) -> int | None:
    # proto3 cannot tell 0 from unset: 0 is the server default, as common.proto says.
    return page.page_size or None


def _next(token: str | None) -> common_pb2.PageResponse:
    return common_pb2.PageResponse(next_page_token=token or "")


class RosterServicer(roster_pb2_grpc.RosterServiceServicer):
    def __init__(self, listings: RosterListings, calls: CallRunner) -> None:
        self._listings = listings
        self._calls = calls

    def ListCourses(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> roster_pb2.ListCoursesResponse:
            listing = self._listings.courses(principal, _size(request.page), request.page.page_token)
            return roster_pb2.ListCoursesResponse(
                courses=[
                    roster_pb2.RosterCourse(course_id=c.course_id, name=c.name, subject_ids=c.subject_ids)
                    for c in listing.items
                ],
                page=_next(listing.next_cursor),
            )

        return self._calls.run("ListCourses", context, work, _PAGE_FIELDS)

    def ListCourseStudents(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> roster_pb2.ListCourseStudentsResponse:
            listing = self._listings.course_students(
                principal, request.course_id, _size(request.page), request.page.page_token
            )
            return roster_pb2.ListCourseStudentsResponse(
                students=[
                    roster_pb2.RosterStudent(
                        student_id=s.student_id, course_id=s.course_id, display_name=s.display_name
                    )
                    for s in listing.items
                ],
                page=_next(listing.next_cursor),
            )

        return self._calls.run("ListCourseStudents", context, work, _PAGE_FIELDS)

    def ListSubjects(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> roster_pb2.ListSubjectsResponse:
            listing = self._listings.subjects(principal, _size(request.page), request.page.page_token)
            return roster_pb2.ListSubjectsResponse(
                subjects=[
                    roster_pb2.RosterSubject(subject_id=s.subject_id, name=s.name) for s in listing.items
                ],
                page=_next(listing.next_cursor),
            )

        return self._calls.run("ListSubjects", context, work, _PAGE_FIELDS)

    def ListTerms(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> roster_pb2.ListTermsResponse:
            listing = self._listings.terms(principal, _size(request.page), request.page.page_token)
            return roster_pb2.ListTermsResponse(
                terms=[
                    roster_pb2.RosterTerm(
                        term_id=t.term_id, name=t.name, closed=t.closed, closed_at=_ts(t.closed_at)
                    )
                    for t in listing.items
                ],
                page=_next(listing.next_cursor),
            )

        return self._calls.run("ListTerms", context, work, _PAGE_FIELDS)

    def ListTeacherAssignments(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> roster_pb2.ListTeacherAssignmentsResponse:
            listing = self._listings.teacher_assignments(
                principal, request.teacher_id, _size(request.page), request.page.page_token
            )
            return roster_pb2.ListTeacherAssignmentsResponse(
                assignments=[
                    roster_pb2.RosterAssignment(
                        teacher_id=a.teacher_id,
                        course_id=a.course_id,
                        subject_id=a.subject_id,
                        assigned_at=_ts(a.assigned_at),
                        assigned_by=a.assigned_by,
                    )
                    for a in listing.items
                ],
                page=_next(listing.next_cursor),
            )

        return self._calls.run("ListTeacherAssignments", context, work, _PAGE_FIELDS)
