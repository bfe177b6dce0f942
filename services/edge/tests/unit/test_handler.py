"""The Lambda's answers in API Gateway's own shapes (a REQUEST authorizer event, an IAM policy)."""

from __future__ import annotations

from typing import Any

import pytest

from luca_edge.entrypoints import authorizer as entrypoint
from luca_edge.service_layer.authorize import Authorizer
from luca_kernel.access import Principal
from luca_kernel.errors import Unauthenticated
from luca_platform.school_keys import api_key_value
from luca_platform.tokens import TokenKeysUnavailable
from luca_testing.tokens import TokenMint

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/POST/v1/evaluations"


class FakeContext:
    function_name = "edge-authorizer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:edge-authorizer"
    aws_request_id = "req-1"


def event(authorization: str | None) -> dict[str, Any]:
    headers = {"Host": "api.example.test"}
    if authorization is not None:
        headers["authorization"] = authorization  # API Gateway keeps the client's case
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/v1/{proxy+}",
        "path": "/v1/v1/evaluations",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {},
        "pathParameters": {"proxy": "evaluations"},
        "stageVariables": {},
        "requestContext": {"accountId": "123456789012", "apiId": "abc123", "stage": "v1"},
    }


@pytest.fixture
def installed(authorizer: Authorizer, monkeypatch: pytest.MonkeyPatch) -> Authorizer:
    monkeypatch.setattr(entrypoint, "_authorizer", authorizer)
    return authorizer


def test_a_valid_token_is_allowed_on_the_whole_api_with_its_schools_key(
    installed: Authorizer, mint: TokenMint
) -> None:
    token = mint.token("school-a", ["teachers"], username="ana")
    answer = entrypoint.handler(event(f"Bearer {token}"), FakeContext())
    assert answer["usageIdentifierKey"] == api_key_value("school-a")
    assert answer["context"]["school_id"] == "school-a"
    assert answer["context"]["roles"] == "teachers"
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    # Cached per token for every route, so the policy must cover every route of this API and stage.
    assert statement["Resource"] == ["arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*/*"]


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer junk"])
def test_an_invalid_or_missing_token_is_unauthorized(installed: Authorizer, header: str | None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        entrypoint.handler(event(header), FakeContext())


def test_unreachable_keys_fail_the_invocation_rather_than_refuse_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Unreachable:
        def verify(self, token: str) -> Principal:
            raise TokenKeysUnavailable("token keys are unavailable; retry shortly")

    monkeypatch.setattr(entrypoint, "_authorizer", Authorizer(Unreachable(), api_key_value))
    with pytest.raises(TokenKeysUnavailable) as raised:
        entrypoint.handler(event("Bearer a.b.c"), FakeContext())
    # Not the 401 message: API Gateway must answer 5xx and not cache a refusal.
    assert str(raised.value) != "Unauthorized"
    assert isinstance(raised.value, Unauthenticated)


def test_the_authorizer_is_built_from_the_environment_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entrypoint, "_authorizer", None)
    monkeypatch.delenv("LUCA_USER_POOL_ID", raising=False)
    with pytest.raises(RuntimeError, match="LUCA_USER_POOL_ID"):
        entrypoint.authorizer()
    monkeypatch.setenv("LUCA_USER_POOL_ID", "eu-west-1_Pool")
    monkeypatch.setenv("LUCA_USER_POOL_CLIENT_ID", "client")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert isinstance(entrypoint.authorizer(), Authorizer)
