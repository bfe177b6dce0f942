"""The assignment cache: warm reads cost nothing, a change on this task shows at once, and elsewhere
within the TTL; it never serves one school's or teacher's assignments for another."""

from datetime import UTC, datetime

from luca_grading.domain.model import Assignment
from luca_grading.service_layer.assignment_cache import AssignmentCache
from luca_kernel.ids import CourseId, SchoolId, SubjectId, TeacherId


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def held(school: str, teacher: str, subject: str = "math") -> Assignment:
    return Assignment(
        SchoolId(school),
        TeacherId(teacher),
        CourseId("1A"),
        SubjectId(subject),
        datetime(2026, 3, 1, tzinfo=UTC),
        "a",
    )


def test_warm_until_the_ttl_then_loaded_again() -> None:
    clock, loads = Clock(), []
    cache = AssignmentCache(ttl_seconds=15, timer=clock)

    def load(teacher: TeacherId) -> list[Assignment]:
        loads.append(teacher)
        return [held("s-a", teacher)]

    first = cache.assignments(SchoolId("s-a"), TeacherId("t-1"), load)
    clock.now = 14.9
    assert cache.assignments(SchoolId("s-a"), TeacherId("t-1"), load) == first
    clock.now = 15.1
    cache.assignments(SchoolId("s-a"), TeacherId("t-1"), load)
    assert loads == ["t-1", "t-1"]


def test_an_invalidated_teacher_is_loaded_again_and_keys_never_mix() -> None:
    cache = AssignmentCache(ttl_seconds=15, timer=Clock())
    store = {
        ("s-a", "t-1"): [held("s-a", "t-1")],
        ("s-b", "t-1"): [],
        ("s-a", "t-2"): [held("s-a", "t-2", "art")],
    }

    def loader(school: str):  # type: ignore[no-untyped-def]
        return lambda teacher: store[(school, teacher)]

    assert cache.assignments(SchoolId("s-a"), TeacherId("t-1"), loader("s-a"))
    # The same teacher id in another school, and another teacher in the same school: their own.
    assert cache.assignments(SchoolId("s-b"), TeacherId("t-1"), loader("s-b")) == ()
    assert cache.assignments(SchoolId("s-a"), TeacherId("t-2"), loader("s-a"))[0].subject_id == "art"
    store[("s-a", "t-1")] = []
    cache.invalidate(SchoolId("s-a"), TeacherId("t-1"))
    assert cache.assignments(SchoolId("s-a"), TeacherId("t-1"), loader("s-a")) == ()


def test_a_zero_ttl_caches_nothing() -> None:
    cache, loads = AssignmentCache(ttl_seconds=0, timer=Clock()), []
    for _ in range(3):
        cache.assignments(SchoolId("s-a"), TeacherId("t-1"), lambda t: loads.append(t) or [])
    assert len(loads) == 3
