"""A school admin's routes: the roster, the terms (and closing them) and teachers' assignments."""

from fastapi import APIRouter, Response

from luca_grading.entrypoints.rest_auth import Caller
from luca_grading.entrypoints.rest_models import AssignmentOut, NamedBody, StudentBody, TermOut
from luca_grading.entrypoints.rest_responses import READ, WRITE, problems
from luca_grading.service_layer.administration import SchoolAdministration
from luca_platform.rest_routes import WorkerRoute


def admin_router(admin: SchoolAdministration) -> APIRouter:
    router = APIRouter(route_class=WorkerRoute)

    @router.put("/v1/courses/{course_id}", tags=["roster"], responses=problems(*WRITE))
    def put_course(course_id: str, body: NamedBody, caller: Caller) -> dict[str, str]:
        course = admin.put_course(caller, course_id, body.name)
        return {"course_id": course.course_id, "name": course.name}

    @router.put("/v1/subjects/{subject_id}", tags=["roster"], responses=problems(*WRITE))
    def put_subject(subject_id: str, body: NamedBody, caller: Caller) -> dict[str, str]:
        subject = admin.put_subject(caller, subject_id, body.name)
        return {"subject_id": subject.subject_id, "name": subject.name}

    @router.put("/v1/students/{student_id}", tags=["roster"], responses=problems(*WRITE))
    def put_student(student_id: str, body: StudentBody, caller: Caller) -> dict[str, str]:
        student = admin.put_student(caller, student_id, body.course_id, body.display_name)
        return {"student_id": student.student_id, "course_id": student.course_id}

    @router.put("/v1/terms/{term_id}", response_model=TermOut, tags=["terms"], responses=problems(*WRITE))
    def put_term(term_id: str, body: NamedBody, caller: Caller) -> TermOut:
        return TermOut.of(admin.put_term(caller, term_id, body.name))

    @router.post(
        "/v1/terms/{term_id}/closure", response_model=TermOut, tags=["terms"], responses=problems(*READ)
    )
    def close_term(term_id: str, caller: Caller) -> TermOut:
        """Closes the term: no new grades, only admins may correct its grades, and the government
        sync may submit it. Closing a closed term changes nothing."""
        return TermOut.of(admin.close_term(caller, term_id))

    @router.put(
        "/v1/teachers/{teacher_id}/assignments/{course_id}/{subject_id}",
        response_model=AssignmentOut,
        tags=["assignments"],
        responses=problems(*READ),
    )
    def assign(teacher_id: str, course_id: str, subject_id: str, caller: Caller) -> AssignmentOut:
        return AssignmentOut.of(admin.assign(caller, teacher_id, course_id, subject_id))

    @router.delete(
        "/v1/teachers/{teacher_id}/assignments/{course_id}/{subject_id}",
        status_code=204,
        tags=["assignments"],
        responses=problems(*READ),
    )
    def unassign(teacher_id: str, course_id: str, subject_id: str, caller: Caller) -> Response:
        admin.unassign(caller, teacher_id, course_id, subject_id)
        return Response(status_code=204)

    return router
