"""Per-school data access: the task role that can do nothing but become one school, and the tenant role.

The grading service never reads or writes the table with its own identity. For each school it calls
``sts:AssumeRole`` on the tenant role with the session tag ``school_id=<school>``; the tenant role's
only permission allows the table and its indexes where every leading key matches
``SCHOOL#${aws:PrincipalTag/school_id}#*``. The ``#`` after the school is what keeps school ``A`` out
of school ``AB``'s partitions. So even a bug that builds another school's key is refused by IAM.

The trust policy insists on that tag: it must be present and non-empty, must be the only tag, and
must not contain ``*``, ``?`` or ``#`` (a wildcard or separator smuggled into the tag could widen the
pattern after substitution; school ids never contain them, see ``table_design._check_part``).

Other workloads that act for one school at a time (the burst path's grade processor) are admitted to
the trust with ``admit_for_school``: one more statement, the same conditions, their own role.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from luca_infra.definitions import TenantRoleDefinition

# IAM policy-variable escapes for a literal '*' and '?', and the key separator.
FORBIDDEN_TAG_VALUE_PATTERNS = ("*${*}*", "*${?}*", "*#*")


def tenant_trust_conditions(session_tag: str) -> dict[str, dict[str, object]]:
    return {
        "StringLike": {f"aws:RequestTag/{session_tag}": "?*"},
        "ForAllValues:StringEquals": {"aws:TagKeys": [session_tag]},
        "StringNotLike": {f"aws:RequestTag/{session_tag}": list(FORBIDDEN_TAG_VALUE_PATTERNS)},
    }


def school_session_principal(role_arn: str, session_tag: str) -> iam.SessionTagsPrincipal:
    """``role_arn`` may assume the tenant role (and tag the session) only with one well-formed school tag."""
    return iam.SessionTagsPrincipal(
        iam.ArnPrincipal(role_arn).with_conditions(tenant_trust_conditions(session_tag))
    )


def admit_for_school(tenant_role: iam.Role, caller: iam.IRole, definition: TenantRoleDefinition) -> None:
    """Add ``caller`` to the tenant role's trust, under the same school-tag conditions as the task role.

    The caller still needs ``sts:AssumeRole`` and ``sts:TagSession`` on the tenant role in its own
    policy (``grant_assume_tenant_role``): a role trust admits, an identity policy allows.
    """
    if tenant_role.assume_role_policy is None:
        raise ValueError("the tenant role has no trust policy to extend")
    school_session_principal(caller.role_arn, definition.session_tag).add_to_assume_role_policy(
        tenant_role.assume_role_policy
    )


def grant_assume_tenant_role(grantee: iam.IGrantable, tenant_role_arn: str) -> iam.Grant:
    """Let ``grantee`` assume the tenant role with the school session tag (nothing else)."""
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["sts:AssumeRole", "sts:TagSession"],
        resource_arns=[tenant_role_arn],
    )


def tenant_data_statement(definition: TenantRoleDefinition, table_arn: str) -> iam.PolicyStatement:
    """The tenant role's one statement: the definition's actions, own-school leading keys only."""
    return iam.PolicyStatement(
        sid="OwnSchoolPartitionsOnly",
        actions=list(definition.actions),
        # The table and every index: GSI partition keys start with the school too.
        resources=[table_arn, f"{table_arn}/index/*"],
        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [definition.leading_key_pattern]}},
    )


class TenantDataAccess(Construct):
    """The ECS task role and the tenant role it may assume, one school per session."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: TenantRoleDefinition,
        table_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self._definition = definition
        # Only ECS tasks of this account may wear the task role (confused-deputy guard).
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": stack.format_arn(service="ecs", resource="*")},
                }
            ),
            description="Grading tasks: may only assume the tenant role, one school per session",
        )
        self.tenant_role = iam.Role(
            self,
            "TenantRole",
            role_name=definition.name,
            # The task role's statement: AssumeRole and TagSession, only with a well-formed school tag.
            assumed_by=school_session_principal(self.task_role.role_arn, definition.session_tag),
            max_session_duration=cdk.Duration.seconds(max(definition.session_duration_seconds, 3600)),
            description=f"Per-school table access; assumed with session tag {definition.session_tag}",
        )
        self.tenant_role.add_to_principal_policy(tenant_data_statement(definition, table_arn))

    def grant_assume_for_school(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` assume the tenant role with the school session tag (nothing else)."""
        return grant_assume_tenant_role(grantee, self.tenant_role.role_arn)
