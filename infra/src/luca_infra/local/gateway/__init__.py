"""The API Gateway stand-in: one port in front of the services, as the AWS edge behaves.

It replaces, and is kept as small as, the managed pieces the edge stack deploys:

* ``app``: the REST API's routes and the Cognito authorizer (a bearer ID token verified against
  the user pool's JWKS), and what each request is answered with (``problems``: RFC 9457);
* ``rate_limiter``: usage plans and the per-school limiter, a token bucket per school behind one
  for the stage;
* ``access_log``: exactly one JSON line per request, with the request and correlation ids it mints;
* ``event_intake``: the burst path's request model and SQS integration (``POST /v1/events`` and
  ``/v1/events/batch`` never reach a service);
* ``proxy``: the HTTP integrations with the services behind it;
* ``serving``: the app on uvicorn in a thread (``luca_infra.local.gateway_process`` runs it as its
  own process).
"""

from luca_infra.local.gateway.access_log import AccessLog
from luca_infra.local.gateway.app import Gateway, GatewaySettings, TokenVerifier
from luca_infra.local.gateway.event_intake import EventIntake, EventIntakeSettings
from luca_infra.local.gateway.rate_limiter import RateLimit, SchoolRateLimiter, retry_after_seconds
from luca_infra.local.gateway.serving import ServedGateway

__all__ = [
    "AccessLog",
    "EventIntake",
    "EventIntakeSettings",
    "Gateway",
    "GatewaySettings",
    "RateLimit",
    "SchoolRateLimiter",
    "ServedGateway",
    "TokenVerifier",
    "retry_after_seconds",
]
