"""The table down (after the SDK's retries) is a retryable 503 / UNAVAILABLE, never a 500 / UNKNOWN,
and botocore's text stays in the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from grading_fakes import FakeRepositories, teacher
from luca.grading.v1 import grading_pb2, grading_pb2_grpc
from luca_grading.bootstrap import Container, bootstrap
from luca_grading.config import GradingSettings
from luca_grading.entrypoints.grpc_server import create_server
from luca_grading.entrypoints.rest import create_app
from luca_testing.fakes import TokenAuthenticator

THROTTLED = ClientError(
    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "secret-internal-detail"}},
    "Query",
)


class DownRepositories(FakeRepositories):
    """Every read of the table fails as DynamoDB does when it throttles past the SDK's retries."""

    def for_school(self, school_id: Any) -> Any:
        repository = super().for_school(school_id)

        def fail(*_: Any, **__: Any) -> Any:
            raise THROTTLED

        reads = (
            "student_evaluations",
            "course_evaluations",
            "get_student",
            "get_course",
            "get_rule",
            "assignments_of",
        )
        for name in reads:
            setattr(repository, name, fail)
        return repository


@pytest.fixture
def container() -> Container:
    settings = GradingSettings(
        table_name="t", user_pool_id="pool", user_pool_client_id="client", cursor_keys="k" * 32
    )  # type: ignore[call-arg]
    return bootstrap(
        settings,
        repositories=DownRepositories(),
        authenticator=TokenAuthenticator({"teacher-a": teacher()}),
    )


def test_rest_answers_503_with_retry_after_and_no_botocore_text(container: Container) -> None:
    client = TestClient(create_app(container), raise_server_exceptions=False)

    response = client.get(
        "/v1/courses/1A/terms/2025-T1/grades", headers={"Authorization": "Bearer teacher-a"}
    )

    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/dependency-unavailable")
    assert "secret-internal-detail" not in response.text


@pytest.fixture
def stub(container: Container) -> Iterator[grading_pb2_grpc.GradingServiceStub]:
    server, port = create_server(container, address="127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield grading_pb2_grpc.GradingServiceStub(channel)
    server.stop(0)


def test_grpc_answers_unavailable_with_error_info_and_no_botocore_text(
    stub: grading_pb2_grpc.GradingServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListCourseGrades(
            grading_pb2.ListCourseGradesRequest(course_id="1A", term_id="2025-T1"),
            metadata=(("authorization", "Bearer teacher-a"),),
        )

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    status = rpc_status.from_call(raised.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "DEPENDENCY_UNAVAILABLE"
    assert "secret-internal-detail" not in (raised.value.details() or "")
