"""The ``edge-authorizer`` Lambda: API Gateway's REQUEST authorizer for every route.

Identity source: the ``Authorization`` header, so API Gateway caches each answer per token (for the
stage's authorizer TTL) and calls this function about once per token and TTL, not per request.
Because one cached answer serves every route, the policy allows the whole API; what a caller may do
on a route is the service's decision, made again from the same token.

Answers, as API Gateway expects them:
* a valid token: ``Allow`` on the API, the principal as context (``luca_edge.domain.grant``), and the
  school's usage-plan key as ``usageIdentifierKey`` (API key source ``AUTHORIZER``), which puts the
  request in the school's own throttling bucket of its tier's plan;
* no token or an invalid one: the error ``Unauthorized``, which API Gateway turns into a 401 (its
  ``UNAUTHORIZED`` gateway response, a problem with ``WWW-Authenticate``);
* the key set unreachable: the invocation fails, a 5xx (``AUTHORIZER_FAILURE``) that API Gateway does
  not cache, so the next request tries again instead of a good token being refused for the TTL.

No I/O at import time: the authorizer is built on the first invocation and kept for the instance's
life, with the key set it fetched.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from luca_edge.bootstrap import build
from luca_edge.config import EdgeSettings
from luca_edge.service_layer.authorize import Authorizer
from luca_kernel.errors import Unauthenticated
from luca_platform.tokens import TokenKeysUnavailable, bearer

SERVICE = "edge-authorizer"
# The one error message API Gateway maps to 401; any other failure is a 500.
UNAUTHORIZED = "Unauthorized"

logger = Logger(service=SERVICE)
_authorizer: Authorizer | None = None


class Unauthorized(Exception):
    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def authorizer() -> Authorizer:
    global _authorizer
    if _authorizer is None:
        _authorizer = build(EdgeSettings.from_environment())
    return _authorizer


@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict[str, Any]:
    try:
        grant = authorizer().grant(bearer(event.headers.get("Authorization")))
    except TokenKeysUnavailable:
        logger.exception("token keys unavailable")
        raise
    except Unauthenticated as exc:
        # The reason is the caller's own mistake; never the token itself (it is a credential).
        logger.info("refused", extra={"reason": exc.detail})
        raise Unauthorized() from None
    arn = event.parsed_arn
    response = APIGatewayAuthorizerResponse(
        principal_id=grant.principal_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context=grant.context(),
        usage_identifier_key=grant.usage_key,
        partition=arn.partition,
    )
    response.allow_all_routes()
    logger.info("granted", extra={"school_id": grant.context()["school_id"]})
    return response.asdict()
