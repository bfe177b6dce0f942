"""Batch sessions: the session policy names exactly the batch's schools, fits AWS's limit, and
``AwsClients`` asks for one session per school set, never an unscoped client in its place."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from luca_platform.aws import AwsClients
from luca_platform.batch_access import (
    SESSION_POLICY_MAX_CHARS,
    group_schools,
    leading_key_pattern,
    session_policy,
)

ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem")


def test_the_policy_allows_the_actions_on_exactly_the_schools_leading_keys() -> None:
    policy = json.loads(session_policy(["school-b", "school-a"], ACTIONS))
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == list(ACTIONS)
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SCHOOL#school-a#*", "SCHOOL#school-b#*"]}
    }


@pytest.mark.parametrize("forged", ["*", "school-*", "school-a#STUDENT", "school?", "${aws:username}", ""])
def test_a_school_id_that_could_widen_the_pattern_is_refused(forged: str) -> None:
    with pytest.raises(ValueError, match="not a school id"):
        leading_key_pattern(forged)
    with pytest.raises(ValueError, match="not a school id"):
        session_policy([forged], ACTIONS)


def test_no_session_without_a_school() -> None:
    with pytest.raises(ValueError, match="at least one school"):
        session_policy([], ACTIONS)


def test_schools_are_grouped_into_as_few_policies_as_fit_the_limit() -> None:
    schools = [f"liceo-{n:03d}-de-la-comuna-de-providencia" for n in range(120)]
    groups = group_schools(schools, ACTIONS)
    assert sorted(s for group in groups for s in group) == sorted(schools)
    assert all(len(session_policy(group, ACTIONS)) <= SESSION_POLICY_MAX_CHARS for group in groups)
    # Greedy in id order: every group but the last is full (one more school would not fit).
    ordered = sorted(schools)
    start = 0
    for group in groups[:-1]:
        start += len(group)
        assert len(session_policy([*group, ordered[start]], ACTIONS)) > SESSION_POLICY_MAX_CHARS
    assert group_schools(["school-a", "school-a"], ACTIONS) == [("school-a",)]
    assert group_schools([], ACTIONS) == []


def test_a_group_is_exactly_as_long_as_its_limit_allows() -> None:
    schools = [f"s{n:02d}" for n in range(40)]
    one = len(session_policy(schools[:1], ACTIONS))
    # A limit that fits exactly three schools' policy gives groups of three.
    limit = len(session_policy(schools[:3], ACTIONS))
    assert limit > one
    assert {len(group) for group in group_schools(schools, ACTIONS, max_chars=limit)[:-1]} == {3}
    assert group_schools(schools, ACTIONS, max_chars=limit - 1)[0] == tuple(schools[:2])
    with pytest.raises(ValueError, match="alone does not fit"):
        group_schools(schools, ACTIONS, max_chars=one - 1)


class FakeSts:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {
            "Credentials": {
                "AccessKeyId": f"AKIA{len(self.calls)}",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": datetime.now(UTC) + timedelta(seconds=kwargs["DurationSeconds"]),
            }
        }


def _clients(**kwargs: Any) -> tuple[AwsClients, FakeSts]:
    clients = AwsClients(region="us-east-1", endpoint_url="http://127.0.0.1:9", **kwargs)
    sts = FakeSts()
    clients._sts = sts  # type: ignore[assignment]
    return clients, sts


def test_one_session_per_school_set_scoped_by_its_policy_and_reused() -> None:
    clients, sts = _clients(batch_role_arn="arn:aws:iam::111122223333:role/batch", batch_session_seconds=900)
    first = clients.dynamodb_for_schools(["school-b", "school-a"], ACTIONS)
    again = clients.dynamodb_for_schools({"school-a", "school-b"}, ACTIONS)
    other = clients.dynamodb_for_schools(["school-a"], ACTIONS)

    assert first is again
    assert other is not first
    assert [call["Policy"] for call in sts.calls] == [
        session_policy(["school-a", "school-b"], ACTIONS),
        session_policy(["school-a"], ACTIONS),
    ]
    assert {call["RoleArn"] for call in sts.calls} == {"arn:aws:iam::111122223333:role/batch"}
    assert all("Tags" not in call and call["DurationSeconds"] == 900 for call in sts.calls)
    credentials = first._request_signer._credentials  # botocore's signer: the session's keys
    assert credentials.access_key == "AKIA1"


def test_a_session_is_not_reused_past_its_usable_life() -> None:
    clients, sts = _clients(
        batch_role_arn="arn:aws:iam::111122223333:role/batch",
        batch_session_seconds=900,
        refresh_margin_seconds=900,
    )
    clients.dynamodb_for_schools(["school-a"], ACTIONS)
    clients.dynamodb_for_schools(["school-a"], ACTIONS)
    assert len(sts.calls) == 2


def test_with_per_school_sessions_but_no_batch_role_there_is_no_batch_client() -> None:
    clients, sts = _clients(tenant_role_arn="arn:aws:iam::111122223333:role/tenant")
    with pytest.raises(RuntimeError, match="batch role"):
        clients.dynamodb_for_schools(["school-a"], ACTIONS)
    assert sts.calls == []


def test_without_any_role_the_shared_client_serves_a_bare_emulator() -> None:
    clients, sts = _clients()
    assert clients.dynamodb_for_schools(["school-a", "school-b"], ACTIONS) is clients.dynamodb_for("school-c")
    assert sts.calls == []
