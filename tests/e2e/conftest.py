"""The local platform, up once for the end-to-end session, on free ports and a scratch state dir.

Besides the two demo schools it runs a third, ``demo-school-c``, on a tiny rate-limit tier so the
throttling test can exhaust a bucket without touching the buckets the other tests spend, and a
fourth, ``demo-school-f``, that only the schemathesis run uses: its admin token may change anything
of its school (rules, roster, terms), which must not change what the other tests read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest
from moto.utilities.utils import load_resource

from luca.grading.v1 import grading_pb2_grpc
from luca_infra.local.demo import DEMO_SCHOOLS, DemoRole, DemoSchool, DemoStudent
from luca_infra.local.gateway import RateLimit
from luca_infra.local.platform import LocalPlatform, PlatformConfig

THROTTLED_SCHOOL = DemoSchool(
    school_id="demo-school-c",
    course_id="3C",
    course_name="Tercero Medio C",
    subjects={"math": "Matemática"},
    students=(DemoStudent("st-c-201", "Fernanda Ruiz"),),
)
THROTTLED_LIMIT = RateLimit(rate=0.2, burst=3)
FUZZED_SCHOOL = DemoSchool(
    school_id="demo-school-f",
    course_id="4F",
    course_name="Cuarto Medio F",
    subjects={"math": "Matemática", "history": "Historia"},
    students=(DemoStudent("st-f-401", "Tomás Vera"), DemoStudent("st-f-402", "Isidora Paz")),
)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    config = PlatformConfig.ephemeral(
        tmp_path_factory.mktemp("luca-state"),
        schools=(*DEMO_SCHOOLS, THROTTLED_SCHOOL, FUZZED_SCHOOL),
        school_limits={THROTTLED_SCHOOL.school_id: THROTTLED_LIMIT},
        access_log_stdout=False,
        log_level="WARNING",
    )
    with LocalPlatform(config) as running:
        yield running


@pytest.fixture(scope="session")
def state_dir(platform: LocalPlatform) -> Path:
    return platform.config.state_dir


@pytest.fixture(scope="session")
def gateway(platform: LocalPlatform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.gateway_url, timeout=15, trust_env=False) as client:
        yield client


@pytest.fixture(scope="session")
def grading_stub(platform: LocalPlatform) -> Iterator[grading_pb2_grpc.GradingServiceStub]:
    with grpc.insecure_channel(platform.grading_grpc_target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield grading_pb2_grpc.GradingServiceStub(channel)


class Auth:
    """Real tokens of the demo users, as headers and gRPC metadata."""

    def __init__(self, platform: LocalPlatform) -> None:
        self._platform = platform

    def token(self, school: str, role: DemoRole) -> str:
        return self._platform.token_for(school, role)

    def headers(self, school: str, role: DemoRole, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(school, role)}", **extra}

    def metadata(self, school: str, role: DemoRole) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token(school, role)}"),)

    def expired_token(self, school: str, role: DemoRole) -> str:
        return expired(self.token(school, role))


@pytest.fixture(scope="session")
def auth(platform: LocalPlatform) -> Auth:
    return Auth(platform)


@pytest.fixture(scope="session")
def throttled_school() -> DemoSchool:
    return THROTTLED_SCHOOL


def sign_with_emulator_key(claims: dict[str, Any]) -> str:
    """A token signed with the emulator's own Cognito key (what a correctly signed but bad token needs)."""
    key = jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json"))
    return jwt.encode(claims, key.key, algorithm="RS256", headers={"kid": key.key_id})


def expired(token: str) -> str:
    """The same claims, signed by the pool's key, but expired an hour ago."""
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600)
    return sign_with_emulator_key(claims)
