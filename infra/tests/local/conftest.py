"""Fixtures for the local platform's unit tests: a Cognito-shaped token mint, a fake upstream, and
an embedded emulator with an events queue and DLQ of their own per test."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from opentelemetry import trace
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from luca_infra.definitions import PLATFORM_DEFINITION, PlatformDefinition
from luca_infra.local.emulator import Emulator
from luca_infra.local.provision import EventQueues, event_queues
from luca_platform.tokens import CognitoSettings, CognitoTokenVerifier

REGION = "us-east-1"
POOL_ID = "us-east-1_GatewayTest"
CLIENT_ID = "gateway-test-client"


class StaticKeys(jwt.PyJWKClient):
    """A JWKS client serving a fixed key set (the real one fetches it over HTTP)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__("http://127.0.0.1:9/unused", cache_keys=True)
        self._jwks = jwks

    def fetch_data(self) -> Any:
        return self._jwks


class Mint:
    """Signs ID tokens with the claims Cognito puts in them."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "unit-key"

    @property
    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [public]}

    def token(
        self, school: str | None = "school-a", groups: tuple[str, ...] = ("teachers",), **overrides: Any
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(uuid.uuid4()),
            "iss": CognitoSettings(REGION, POOL_ID, CLIENT_ID).issuer,
            "aud": CLIENT_ID,
            "token_use": "id",
            "iat": now,
            "exp": now + 3600,
            "cognito:username": "someone",
            "cognito:groups": list(groups),
            "custom:school_id": school,
        }
        claims.update(overrides)
        return jwt.encode(
            {k: v for k, v in claims.items() if v is not None},
            self.key,
            algorithm="RS256",
            headers={"kid": self.kid},
        )


@pytest.fixture(scope="session")
def mint() -> Mint:
    return Mint()


@pytest.fixture(scope="session")
def impostor() -> Mint:
    """Another key pair that claims the real key's kid."""
    return Mint()


@pytest.fixture
def verifier(mint: Mint) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(CognitoSettings(REGION, POOL_ID, CLIENT_ID), jwks=StaticKeys(mint.jwks))


class FakeUpstream:
    """Stands in for the grading service: records what reached it and echoes it back."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/stream", self.stream, methods=["GET"]),
                Route("/v1/rejecting", self.rejecting, methods=["POST"]),
                Route("/v1/{path:path}", self.echo, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        seen = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            "body_length": len(body),
            "body_sha": hashlib.sha256(body).hexdigest(),
        }
        self.requests.append(seen)
        response = JSONResponse(
            seen, headers={"x-correlation-id": "upstream-own-id", "idempotent-replayed": "true"}
        )
        response.raw_headers.extend([(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")])
        return response

    async def stream(self, _request: Request) -> Response:
        async def chunks() -> Any:
            for _ in range(64):
                yield b"x" * 16384

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def rejecting(self, _request: Request) -> Response:
        return JSONResponse(
            {"type": "https://errors.luca.school/validation", "status": 422},
            status_code=422,
            media_type="application/problem+json",
        )


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


# -- the emulator and the burst path's queues --------------------------------------------------------
@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One embedded emulator (with its fixes) for the session; its state is process-wide: unique names."""
    running = Emulator(port=0)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def sqs(emulator: Emulator) -> Any:
    return boto3.client("sqs", region_name=emulator.region, endpoint_url=emulator.url)


@pytest.fixture
def definition() -> PlatformDefinition:
    """The platform's definition with queue names of this test's own (everything else as deployed)."""
    suffix = uuid.uuid4().hex[:10]
    ingest = replace(
        PLATFORM_DEFINITION.ingest, queue_name=f"events-{suffix}", dlq_name=f"events-dlq-{suffix}"
    )
    return replace(PLATFORM_DEFINITION, ingest=ingest)


@pytest.fixture
def queues(sqs: Any, definition: PlatformDefinition) -> EventQueues:
    """The events queue and its DLQ, provisioned from ``definition`` as the platform provisions them."""
    return event_queues(sqs, definition)


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every visible message of the queue, received (and so hidden for the queue's visibility timeout)."""
    messages: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return messages
        messages.extend(received)


@pytest.fixture
def drained(sqs: Any) -> Any:
    """``drained(queue_url)``: the queue's visible messages."""
    return lambda queue_url: drain(sqs, queue_url)


@pytest.fixture(scope="session")
def _span_recorder() -> InMemorySpanExporter:
    """This process's finished spans, for the tests that follow a trace through the engine. The
    provider is process-wide and set once: join the one another test may have installed."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(id_generator=AwsXRayIdGenerator())
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(_span_recorder: InMemorySpanExporter) -> InMemorySpanExporter:
    _span_recorder.clear()
    return _span_recorder
