"""A school's users in the user pool: its first admin's invitation, and finding and removing them all.

A user belongs to the school its immutable ``custom:school_id`` names. ``ListUsers`` cannot filter on
a custom attribute, so finding a school's users is a walk over the pool, keeping those whose
attribute names the school (about one page of 60 users per call).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from luca_infra.definitions import PLATFORM_DEFINITION, UserPoolDefinition
from luca_kernel.access import Role


@dataclass(frozen=True, slots=True)
class SchoolUser:
    username: str
    attributes: dict[str, str]
    groups: tuple[str, ...]
    status: str
    enabled: bool
    created: str

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "attributes": dict(sorted(self.attributes.items())),
            "groups": list(self.groups),
            "status": self.status,
            "enabled": self.enabled,
            "created": self.created,
        }


class SchoolIdentities:
    def __init__(
        self, cognito: Any, user_pool_id: str, pool: UserPoolDefinition = PLATFORM_DEFINITION.user_pool
    ) -> None:
        if not user_pool_id:
            raise ValueError(
                "the stage's resources name no user pool (publish them again: deploy, or restart `luca up`)"
            )
        self._cognito, self._pool_id, self._pool = cognito, user_pool_id, pool

    def admin_username(self, school_id: str) -> str:
        """The first admin's user name: fixed per school, so a rerun finds the invitation it sent."""
        return f"{school_id}-admin"

    def invite_admin(self, school_id: str, email: str) -> bool:
        """Invite the school's first admin (Cognito mails a temporary password) in the admins group;
        whether this call created the user (False: it was there, from an earlier run)."""
        username = self.admin_username(school_id)
        created = True
        try:
            self._cognito.admin_create_user(
                UserPoolId=self._pool_id,
                Username=username,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": self._pool.school_claim, "Value": school_id},
                ],
                DesiredDeliveryMediums=["EMAIL"],
            )
        except self._cognito.exceptions.UsernameExistsException:
            answer = self._cognito.admin_get_user(UserPoolId=self._pool_id, Username=username)
            existing = self._attributes(answer)
            if existing.get(self._pool.school_claim) != school_id:
                raise RuntimeError(f"user {username} exists and belongs to another school") from None
            created = False
        self._cognito.admin_add_user_to_group(
            UserPoolId=self._pool_id, Username=username, GroupName=Role.ADMIN.value
        )
        return created

    def users(
        self, school_id: str, student_id: str | None = None, *, groups: bool = True
    ) -> Iterator[SchoolUser]:
        """The school's users (only the student's, when ``student_id`` is given), with their groups
        unless ``groups`` is False (one more call per user)."""
        pages = self._cognito.get_paginator("list_users").paginate(
            UserPoolId=self._pool_id, PaginationConfig={"PageSize": 60}
        )
        for page in pages:
            for user in page.get("Users", []):
                attributes = self._attributes(user)
                if attributes.get(self._pool.school_claim) != school_id:
                    continue
                if student_id is not None and attributes.get(self._pool.student_claim) != student_id:
                    continue
                yield SchoolUser(
                    username=user["Username"],
                    attributes=attributes,
                    groups=self._groups(user["Username"]) if groups else (),
                    status=str(user.get("UserStatus", "")),
                    enabled=bool(user.get("Enabled", True)),
                    created=str(user.get("UserCreateDate", "")),
                )

    def student_ids(self, school_id: str) -> set[str]:
        """The student ids the school's student users carry (their partitions hold their results)."""
        claim = self._pool.student_claim
        users = self.users(school_id, groups=False)
        return {user.attributes[claim] for user in users if user.attributes.get(claim)}

    def delete(self, usernames: list[str]) -> int:
        for username in usernames:
            try:
                self._cognito.admin_delete_user(UserPoolId=self._pool_id, Username=username)
            except self._cognito.exceptions.UserNotFoundException:
                continue  # an earlier, interrupted run removed it
        return len(usernames)

    def _groups(self, username: str) -> tuple[str, ...]:
        answer = self._cognito.admin_list_groups_for_user(UserPoolId=self._pool_id, Username=username)
        return tuple(sorted(group["GroupName"] for group in answer.get("Groups", [])))

    @staticmethod
    def _attributes(user: dict[str, Any]) -> dict[str, str]:
        raw = user.get("Attributes", user.get("UserAttributes", []))
        return {entry["Name"]: entry.get("Value", "") for entry in raw}
