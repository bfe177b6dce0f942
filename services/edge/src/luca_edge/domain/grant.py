"""What the edge grants a verified caller: who they are, as the integrations read it, and whose bucket
they draw from.

API Gateway hands the authorizer's context to the integrations as ``$context.authorizer.<key>``,
flat, with string values only (a nested value or a list fails the authorizer). So the roles travel
as one comma-separated string, and an absent student id as the empty string, which the burst
templates already treat as "not a student".
"""

from __future__ import annotations

from dataclasses import dataclass

from luca_edge.definition import ROLES_KEY, SCHOOL_KEY, STUDENT_KEY, SUBJECT_KEY, USERNAME_KEY
from luca_kernel.access import Principal


@dataclass(frozen=True, slots=True)
class Grant:
    principal: Principal
    # The school's usage-plan key (``luca_platform.school_keys.api_key_value``).
    usage_key: str

    @property
    def principal_id(self) -> str:
        # API Gateway logs this as $context.authorizer.principalId; the subject is not personal data.
        return self.principal.subject

    def context(self) -> dict[str, str]:
        principal = self.principal
        return {
            SCHOOL_KEY: str(principal.school_id),
            STUDENT_KEY: str(principal.student_id or ""),
            ROLES_KEY: ",".join(sorted(role.value for role in principal.roles)),
            SUBJECT_KEY: principal.subject,
            USERNAME_KEY: principal.username,
        }
