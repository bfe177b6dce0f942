"""Who may manage which school's sync, and the API's settings."""

from __future__ import annotations

import pytest

from luca_govsync.config import ApiSettings, GovSyncSettings
from luca_govsync.service_layer.control import target_school
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Forbidden
from luca_kernel.ids import SchoolId


def principal(school: str, *roles: Role) -> Principal:
    return Principal(school_id=SchoolId(school), subject="sub-1", roles=frozenset(roles), username="someone")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SERVICE])
def test_admins_and_services_manage_their_own_schools_sync(role: Role) -> None:
    assert target_school(principal("school-a", role), "") == "school-a"
    assert target_school(principal("school-a", role), "school-a") == "school-a"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SERVICE])
def test_nobody_manages_another_schools_sync(role: Role) -> None:
    with pytest.raises(Forbidden):
        target_school(principal("school-a", role), "school-b")


@pytest.mark.parametrize("roles", [(Role.TEACHER,), (Role.STUDENT,), ()])
def test_teachers_and_students_manage_no_sync(roles: tuple[Role, ...]) -> None:
    with pytest.raises(Forbidden):
        target_school(principal("school-a", *roles), "")


def test_the_api_refuses_to_start_without_its_settings() -> None:
    with pytest.raises(RuntimeError, match="LUCA_STATE_MACHINE_ARN"):
        ApiSettings.from_environment(
            {"LUCA_TABLE_NAME": "t", "LUCA_USER_POOL_ID": "p", "LUCA_USER_POOL_CLIENT_ID": "c"}
        )
    settings = ApiSettings.from_environment(
        {
            "LUCA_TABLE_NAME": "t",
            "LUCA_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:s",
            "LUCA_USER_POOL_ID": "p",
            "LUCA_USER_POOL_CLIENT_ID": "c",
            "LUCA_GRPC_PORT": "6000",
        }
    )
    assert (settings.grpc_port, settings.service_token_key_id) == (6000, None)


def test_the_tasks_need_the_ministrys_credentials_and_a_batch_the_ministry_takes() -> None:
    base = {"LUCA_TABLE_NAME": "t", "LUCA_MANIFEST_BUCKET": "b", "LUCA_MINISTRY_URL": "https://ministry.test"}
    with pytest.raises(RuntimeError, match="credentials"):
        GovSyncSettings.from_environment(base)
    with pytest.raises(RuntimeError, match="BATCH_SIZE"):
        GovSyncSettings.from_environment(
            base | {"LUCA_MINISTRY_SECRET_ARN": "arn:s", "LUCA_GOVSYNC_BATCH_SIZE": "501"}
        )
    settings = GovSyncSettings.from_environment(
        base | {"LUCA_MINISTRY_CLIENT_ID": "luca", "LUCA_MINISTRY_CLIENT_SECRET": "s3cr3t-value"}
    )
    assert settings.ministry_client_secret == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)  # never in a log line
