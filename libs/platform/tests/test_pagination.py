"""Page cursors: a cursor leads back to its position only for the school and query that made it, with
a key the service holds, while it is fresh; anything else is an ``InvalidCursor`` and nothing of it is
used. Page sizes: a default, and a bounded range."""

from __future__ import annotations

import base64
import json

import pytest

from luca_kernel.errors import InvalidCursor, InvalidInput
from luca_platform import pagination
from luca_platform.pagination import CursorCodec, keys_from_setting, page_size, query_hash

KEY = "k" * 32
OLD_KEY = "o" * 32
QUERY = {"listing": "course-students", "course_id": "1A"}
POSITION = {"PK": "SCHOOL#school-a#STUDENT#st-2", "SK": "STUDENT", "GSI1PK": "SCHOOL#school-a#COURSE#1A"}


class Timer:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def timer() -> Timer:
    return Timer()


@pytest.fixture
def codec(timer: Timer) -> CursorCodec:
    return CursorCodec([KEY], timer=timer)


def made(codec: CursorCodec, school: str = "school-a", query: dict[str, str] | None = None) -> str:
    return codec.encode(school_id=school, query=query or QUERY, position=POSITION)


def refused(
    codec: CursorCodec, cursor: str, school: str = "school-a", query: dict[str, str] | None = None
) -> str:
    with pytest.raises(InvalidCursor) as caught:
        codec.decode(cursor, school_id=school, query=query or QUERY)
    assert caught.value.field == "cursor"
    assert caught.value.reason.value == "invalid-cursor"
    return caught.value.detail


def test_a_cursor_leads_back_to_its_position(codec: CursorCodec) -> None:
    cursor = made(codec)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert codec.decode(cursor, school_id="school-a", query=QUERY) == POSITION


def test_the_query_is_the_same_whatever_the_order_of_its_parameters(codec: CursorCodec) -> None:
    cursor = codec.encode(school_id="school-a", query={"a": "1", "b": "2"}, position=POSITION)
    assert codec.decode(cursor, school_id="school-a", query={"b": "2", "a": "1"}) == POSITION
    assert query_hash({"a": "1", "b": "2"}) != query_hash({"a": "1", "b": "3"})


def test_another_school_cannot_use_a_cursor(codec: CursorCodec) -> None:
    refused(codec, made(codec, "school-a"), school="school-b")
    # The trailing '#' convention aside, a prefix of the school is another school too.
    refused(codec, made(codec, "school-ab"), school="school-a")


def test_a_cursor_of_another_query_is_refused(codec: CursorCodec) -> None:
    refused(codec, made(codec), query={"listing": "course-students", "course_id": "1B"})
    refused(codec, made(codec), query={"listing": "subjects"})


@pytest.mark.parametrize(
    "alter",
    [
        lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),  # the signature
        lambda c: ("A" if c[0] != "A" else "B") + c[1:],  # the payload
        lambda c: c + "!",  # a stray character the lenient decoder would drop
        lambda c: c.replace(".", ".."),
        lambda c: c.split(".")[0],  # no signature
        lambda c: "",
        lambda c: "x" * (pagination.MAX_CURSOR_CHARS + 1),
    ],
)
def test_an_altered_cursor_is_refused(codec: CursorCodec, alter: object) -> None:
    cursor = made(codec)
    refused(codec, alter(cursor))  # type: ignore[operator]


def test_a_payload_rewritten_to_another_school_fails_the_signature(codec: CursorCodec) -> None:
    body, mac = made(codec).split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["s"] = "school-b"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    refused(codec, f"{forged}.{mac}", school="school-b")


def test_a_cursor_signed_with_an_unknown_key_is_refused(timer: Timer) -> None:
    stranger = CursorCodec(["s" * 32], timer=timer)
    refused(CursorCodec([KEY], timer=timer), made(stranger))


def test_keys_rotate_sign_with_the_first_accept_any(timer: Timer) -> None:
    before = CursorCodec([OLD_KEY], timer=timer)
    during = CursorCodec([KEY, OLD_KEY], timer=timer)
    after = CursorCodec([KEY], timer=timer)
    old_cursor = made(before)
    assert during.decode(old_cursor, school_id="school-a", query=QUERY) == POSITION
    new_cursor = made(during)
    assert after.decode(new_cursor, school_id="school-a", query=QUERY) == POSITION
    refused(after, old_cursor)


def test_a_cursor_expires(codec: CursorCodec, timer: Timer) -> None:
    cursor = made(codec)
    timer.now += pagination.DEFAULT_MAX_AGE_SECONDS
    assert codec.decode(cursor, school_id="school-a", query=QUERY) == POSITION
    timer.now += 1
    assert "expired" in refused(codec, cursor)


def test_a_cursor_from_far_in_the_future_is_refused(codec: CursorCodec, timer: Timer) -> None:
    timer.now += pagination.CLOCK_SKEW_SECONDS + 1
    cursor = made(codec)
    timer.now -= pagination.CLOCK_SKEW_SECONDS + 1
    refused(codec, cursor)


def test_the_maximum_age_is_the_codecs(timer: Timer) -> None:
    codec = CursorCodec([KEY], timer=timer, max_age_seconds=60)
    cursor = made(codec)
    timer.now += 61
    refused(codec, cursor)


def test_keys_are_required_and_long_enough() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        CursorCodec([])
    with pytest.raises(ValueError, match="32 bytes"):
        CursorCodec([KEY, "short"])


def test_keys_come_from_a_comma_separated_setting() -> None:
    assert keys_from_setting(f" {KEY}, {OLD_KEY} ,") == (KEY.encode(), OLD_KEY.encode())
    assert keys_from_setting("") == ()


@pytest.mark.parametrize(("requested", "expected"), [(None, 50), (1, 1), (50, 50), (200, 200)])
def test_page_size_defaults_and_bounds(requested: int | None, expected: int) -> None:
    assert page_size(requested) == expected


@pytest.mark.parametrize("requested", [0, -1, 201, True])
def test_page_size_out_of_range_is_invalid_input(requested: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        page_size(requested)
    assert caught.value.field == "page_size"
    assert not isinstance(caught.value, InvalidCursor)
