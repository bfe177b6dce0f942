"""The roster read a page at a time from the single table, for the listings (``RosterReader``).

Each reader is bound to one school and that school's client (scoped credentials in AWS), and passes
every key, key condition and start key through the tenant guard before the call. Reads of the table
are strongly consistent (a course just created is listed at once); the course index only offers
eventually consistent reads.

A page asks DynamoDB for one item more than it returns: when that item exists, the next position is
the key of the page's last item; when it does not, the page is the last (no empty last page). A
position is an item's key: the table's key attributes, and the index's too on the index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from luca_grading.adapters import table_design as td
from luca_grading.adapters.items import assignment_from
from luca_grading.domain.model import Assignment
from luca_grading.service_layer.listings import HeldCourse, Page
from luca_kernel.errors import InvalidCursor
from luca_kernel.ids import CourseId, SchoolId, SubjectId, TeacherId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_platform.aws import AwsClients
from luca_platform.contracts import roster
from luca_platform.pagination import Position
from luca_platform.table import guard
from luca_platform.table.codec import from_wire, to_wire
from luca_platform.table.keys import COURSE_TERM_INDEX, SEP, TABLE_PARTITION_KEY, TABLE_SORT_KEY, part

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
TABLE_KEY = (TABLE_PARTITION_KEY, TABLE_SORT_KEY)
INDEX_KEY = (*TABLE_KEY, COURSE_TERM_INDEX.partition_key, COURSE_TERM_INDEX.sort_key)
MAX_KEYS_PER_BATCH = 100
BATCH_ATTEMPTS = 5
_LAST_CHARACTER = chr(0x10FFFF)  # sorts after any character, in code points as in UTF-8 bytes


class _Listing:
    """Where one listing's items are: a partition (table or index) and a sort-key prefix."""

    def __init__(self, partition_key: str, sort_prefix: str, *, index: bool = False) -> None:
        self.partition_key = partition_key
        self.sort_prefix = sort_prefix
        self.index = index
        self.key_attributes = INDEX_KEY if index else TABLE_KEY
        self.pk_attribute = COURSE_TERM_INDEX.partition_key if index else TABLE_PARTITION_KEY
        self.sk_attribute = COURSE_TERM_INDEX.sort_key if index else TABLE_SORT_KEY

    def position(self, item: Mapping[str, Any]) -> dict[str, str]:
        return {name: str(item[name]) for name in self.key_attributes}

    def check_start(self, start: Position) -> None:
        # The cursor was signed by us for this query; a start key of another shape or partition is
        # still a bug to refuse here rather than a question to send to the table.
        if (
            set(start) != set(self.key_attributes)
            or start[self.pk_attribute] != self.partition_key
            or not start[self.sk_attribute].startswith(self.sort_prefix)
        ):
            raise InvalidCursor("the cursor does not belong to this listing", field="cursor")


class DynamoRosterReader:
    """``RosterReader`` over one table, confined to one school."""

    def __init__(self, *, client: DynamoDBClient, table_name: str, school_id: SchoolId) -> None:
        self._client = client
        self._table = table_name
        self._school = school_id

    # -- the listings --------------------------------------------------------------------------------
    def courses(self, limit: int, start: Position | None) -> Page[Course]:
        return self._page(self._catalog(roster.COURSE_SK_PREFIX), limit, start, roster.course_from)

    def subjects(self, limit: int, start: Position | None) -> Page[Subject]:
        return self._page(self._catalog(roster.SUBJECT_SK_PREFIX), limit, start, roster.subject_from)

    def terms(self, limit: int, start: Position | None) -> Page[Term]:
        return self._page(self._catalog(roster.TERM_SK_PREFIX), limit, start, roster.term_from)

    def course_students(self, course_id: CourseId, limit: int, start: Position | None) -> Page[Student]:
        listing = _Listing(
            roster.course_roster_pk(self._school, course_id), roster.ROSTER_SK_PREFIX, index=True
        )
        return self._page(listing, limit, start, roster.student_from)

    def assignments(self, teacher_id: TeacherId, limit: int, start: Position | None) -> Page[Assignment]:
        return self._page(self._assignments(teacher_id), limit, start, assignment_from)

    def held_courses(self, teacher_id: TeacherId, limit: int, start: Position | None) -> Page[HeldCourse]:
        # A teacher's assignments sort by course, then subject: each course's are contiguous.
        listing = self._assignments(teacher_id)
        courses: list[tuple[CourseId, list[SubjectId]]] = []
        for item in self._items(listing, start, batch=limit + 1):
            course = CourseId(item["course_id"])
            if not courses or courses[-1][0] != course:
                if len(courses) == limit:
                    # A further course exists: the next page starts after the whole previous one.
                    return Page(_held(courses), self._after_course(listing, courses[-1][0]))
                courses.append((course, []))
            courses[-1][1].append(SubjectId(item["subject_id"]))
        return Page(_held(courses))

    @staticmethod
    def _after_course(listing: _Listing, course_id: CourseId) -> dict[str, str]:
        """A start key after the course's every assignment and before the next course's (only this
        course's sort keys start with its prefix), so a subject assigned in the course meanwhile does
        not bring the course back on the next page. A start key need not be an item's."""
        after = f"{td.ASSIGNMENT_SK_PREFIX}{part(course_id)}{SEP}{_LAST_CHARACTER}"
        return {TABLE_PARTITION_KEY: listing.partition_key, TABLE_SORT_KEY: after}

    # -- single reads --------------------------------------------------------------------------------
    def course(self, course_id: CourseId) -> Course | None:
        key = {
            TABLE_PARTITION_KEY: roster.catalog_pk(self._school),
            TABLE_SORT_KEY: roster.course_sk(course_id),
        }
        guard.check_item(self._school, key)
        item = self._client.get_item(TableName=self._table, Key=to_wire(key), ConsistentRead=True).get("Item")
        return roster.course_from(from_wire(item)) if item else None

    def holds_course(self, teacher_id: TeacherId, course_id: CourseId) -> bool:
        prefix = f"{td.ASSIGNMENT_SK_PREFIX}{part(course_id)}{SEP}"
        listing = _Listing(td.teacher_pk(self._school, teacher_id), prefix)
        return next(self._items(listing, None, batch=1), None) is not None

    def courses_named(self, course_ids: Sequence[CourseId]) -> Mapping[CourseId, Course]:
        keys = [
            {TABLE_PARTITION_KEY: roster.catalog_pk(self._school), TABLE_SORT_KEY: roster.course_sk(c)}
            for c in dict.fromkeys(course_ids)
        ]
        found: dict[CourseId, Course] = {}
        for first in range(0, len(keys), MAX_KEYS_PER_BATCH):
            for item in self._batch_get(keys[first : first + MAX_KEYS_PER_BATCH]):
                course = roster.course_from(item)
                found[course.course_id] = course
        return found

    # -- reading -------------------------------------------------------------------------------------
    def _catalog(self, sort_prefix: str) -> _Listing:
        return _Listing(roster.catalog_pk(self._school), sort_prefix)

    def _assignments(self, teacher_id: TeacherId) -> _Listing:
        return _Listing(td.teacher_pk(self._school, teacher_id), td.ASSIGNMENT_SK_PREFIX)

    def _page(
        self,
        listing: _Listing,
        limit: int,
        start: Position | None,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> Page[T]:
        items: list[dict[str, Any]] = []
        for item in self._items(listing, start, batch=limit + 1):
            if len(items) == limit:
                return Page([parse(i) for i in items], listing.position(items[-1]))
            items.append(item)
        return Page([parse(i) for i in items])

    def _items(self, listing: _Listing, start: Position | None, *, batch: int) -> Iterator[dict[str, Any]]:
        """The listing's items from ``start`` on, fetched ``batch`` at a time while the caller reads."""
        guard.check_item(self._school, {listing.pk_attribute: listing.partition_key})
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :sk)",
            "ExpressionAttributeNames": {"#pk": listing.pk_attribute, "#sk": listing.sk_attribute},
            "ExpressionAttributeValues": to_wire({":pk": listing.partition_key, ":sk": listing.sort_prefix}),
            "Limit": batch,
        }
        if listing.index:
            kwargs["IndexName"] = COURSE_TERM_INDEX.name
        else:
            kwargs["ConsistentRead"] = True
        if start is not None:
            guard.check_item(self._school, start)
            listing.check_start(start)
            kwargs["ExclusiveStartKey"] = to_wire(start)
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                yield from_wire(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_get(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        for key in keys:
            guard.check_item(self._school, key)
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {self._table: {"Keys": [to_wire(k) for k in keys], "ConsistentRead": True}}
        for attempt in range(BATCH_ATTEMPTS):
            response = self._client.batch_get_item(RequestItems=request)
            found.extend(from_wire(i) for i in response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.01 * 2**attempt)
        # The table kept throttling: answered like any other unavailable table (503, retry later).
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "keys left unprocessed"}},
            "BatchGetItem",
        )


def _held(courses: list[tuple[CourseId, list[SubjectId]]]) -> list[HeldCourse]:
    return [HeldCourse(course, tuple(subjects)) for course, subjects in courses]


class DynamoRosterReaders:
    """``RosterReaders``: a reader per school, on that school's client."""

    def __init__(self, *, clients: AwsClients, table_name: str) -> None:
        self._clients = clients
        self._table = table_name

    def for_school(self, school_id: SchoolId) -> DynamoRosterReader:
        return DynamoRosterReader(
            client=self._clients.dynamodb_for(school_id), table_name=self._table, school_id=school_id
        )
