from __future__ import annotations

import time

import pytest

from luca_edge.definition import ROLES_KEY, SCHOOL_KEY, STUDENT_KEY
from luca_edge.service_layer.authorize import Authorizer
from luca_kernel.errors import Unauthenticated
from luca_platform.school_keys import api_key_value
from luca_testing.tokens import TokenMint


def test_a_teachers_token_grants_its_school_and_the_schools_key(
    authorizer: Authorizer, mint: TokenMint
) -> None:
    token = mint.token("school-a", ["teachers"], username="ana")
    grant = authorizer.grant(token)
    assert grant.usage_key == api_key_value("school-a")
    context = grant.context()
    assert context[SCHOOL_KEY] == "school-a"
    assert context[ROLES_KEY] == "teachers"
    assert context[STUDENT_KEY] == ""
    assert all(isinstance(value, str) for value in context.values())


def test_a_students_token_carries_the_student(authorizer: Authorizer, mint: TokenMint) -> None:
    token = mint.token("school-a", ["students"], student_id="stu-1")
    assert authorizer.grant(token).context()[STUDENT_KEY] == "stu-1"


def test_two_schools_draw_from_two_buckets(authorizer: Authorizer, mint: TokenMint) -> None:
    a = authorizer.grant(mint.token("school-a", ["teachers"]))
    b = authorizer.grant(mint.token("school-b", ["teachers"]))
    assert a.usage_key != b.usage_key


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_what_is_not_a_token_is_refused(authorizer: Authorizer, token: str) -> None:
    with pytest.raises(Unauthenticated):
        authorizer.grant(token)


def test_the_school_comes_from_the_verified_token_only(authorizer: Authorizer, mint: TokenMint) -> None:
    # Signed by another key: the school it names must not be believed.
    forged = TokenMint(kid=mint.kid).token("school-b", ["admins"])
    with pytest.raises(Unauthenticated):
        authorizer.grant(forged)


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "another-app"},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/another-pool"},
        {"token_use": "access"},
    ],
)
def test_tokens_a_service_would_refuse_are_refused(
    authorizer: Authorizer, mint: TokenMint, overrides: dict[str, object]
) -> None:
    with pytest.raises(Unauthenticated):
        authorizer.grant(mint.token("school-a", ["teachers"], **overrides))


def test_a_token_without_a_school_is_refused(authorizer: Authorizer, mint: TokenMint) -> None:
    with pytest.raises(Unauthenticated):
        authorizer.grant(mint.token(None, ["teachers"]))
