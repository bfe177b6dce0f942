"""Per-school data access: the tenant role, the one identity that may touch the table, one school per session.

No workload reads or writes the table with its own identity. For each school it calls
``sts:AssumeRole`` on the tenant role with the session tag ``school_id=<school>``; the tenant role's
only permission allows the table and its indexes where every leading key matches
``SCHOOL#${aws:PrincipalTag/school_id}#*``. The ``#`` after the school is what keeps school ``A`` out
of school ``AB``'s partitions. So even a bug that builds another school's key is refused by IAM.

The trust policy insists on that tag: it must be present and non-empty, must be the only tag, and
must not contain ``*``, ``?`` or ``#`` (a wildcard or separator smuggled into the tag could widen the
pattern after substitution; school ids never contain them, see ``luca_platform.table.keys``).

Who may assume it: exactly the roles named in ``PlatformDefinition.school_workload_roles`` (the
grading, government sync API and analytics API task roles, the grade processor's and the government
sync tasks' roles; each named in its own definition, which the stack creating it reads too). The
trust admits them by name, through ``aws:PrincipalArn``, not by a reference to the stacks that create
them: the tenant role lives in the shared data stack (``LucaData``), every one of those stacks
depends on it, and none has to be deployed for another to change. A name in the trust is also safe
when its role is replaced (a role principal would be pinned to the deleted role's unique id), and
the caller still needs ``sts:AssumeRole`` and ``sts:TagSession`` on the tenant role in its own
policy (``grant_assume_tenant_role``): the trust admits, the identity policy allows.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from luca_infra.aws.nag import acknowledge
from luca_infra.definitions import BatchRoleDefinition, TenantRoleDefinition

# IAM policy-variable escapes for a literal '*' and '?', and the key separator.
FORBIDDEN_TAG_VALUE_PATTERNS = ("*${*}*", "*${?}*", "*#*")


def tenant_trust_conditions(session_tag: str) -> dict[str, dict[str, object]]:
    return {
        "StringLike": {f"aws:RequestTag/{session_tag}": "?*"},
        "ForAllValues:StringEquals": {"aws:TagKeys": [session_tag]},
        "StringNotLike": {f"aws:RequestTag/{session_tag}": list(FORBIDDEN_TAG_VALUE_PATTERNS)},
    }


def role_arn(scope: Construct, name: str) -> str:
    """The ARN of the role called ``name`` in the deploying account (IAM is global: no region)."""
    return cdk.Stack.of(scope).format_arn(service="iam", region="", resource="role", resource_name=name)


def tenant_role_arn(scope: Construct, definition: TenantRoleDefinition) -> str:
    """The tenant role's ARN, built from its defined name: no stack imports it from ``LucaData``."""
    return role_arn(scope, definition.name)


def batch_role_arn(scope: Construct, definition: BatchRoleDefinition) -> str:
    """The batch role's ARN, built from its defined name like the tenant role's."""
    return role_arn(scope, definition.name)


def grant_assume_batch_role(grantee: iam.IGrantable, batch_role_arn: str) -> iam.Grant:
    """Let ``grantee`` assume the batch role (it narrows each session with a session policy)."""
    return iam.Grant.add_to_principal(
        grantee=grantee, actions=["sts:AssumeRole"], resource_arns=[batch_role_arn]
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


class TenantRole(Construct):
    """The tenant role (``role``): the table for one school per session, assumed only by ``workloads``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: TenantRoleDefinition,
        table_name: str,
        workloads: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        if not workloads:
            raise ValueError("the tenant role must admit at least one workload role")
        stack = cdk.Stack.of(self)
        # The table by its defined name (an ARN built here), so the policy reads the same in every
        # environment and its index wildcard can be acknowledged.
        table_arn = stack.format_arn(service="dynamodb", resource="table", resource_name=table_name)
        # One statement: this account's principals whose ARN is one of the workload roles, only with a
        # well-formed school tag (AssumeRole and TagSession).
        admitted = iam.AccountRootPrincipal().with_conditions(
            {
                **tenant_trust_conditions(definition.session_tag),
                "ArnEquals": {"aws:PrincipalArn": [role_arn(self, name) for name in workloads]},
            }
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=definition.name,
            assumed_by=iam.SessionTagsPrincipal(admitted),
            max_session_duration=cdk.Duration.seconds(max(definition.session_duration_seconds, 3600)),
            description=f"Per-school table access; assumed with session tag {definition.session_tag}",
        )
        self.role.add_to_principal_policy(tenant_data_statement(definition, table_arn))
        acknowledge(
            self.role,
            f"IAM5[Resource::arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/{table_name}/index/*]",
            "Every index of the platform table: each index's partition key starts with the school too, and "
            "the statement's dynamodb:LeadingKeys condition confines every call to the session's school.",
        )


class BatchTenantRole(Construct):
    """The batch role (``role``): the table on school keys only, for sessions narrowed to a batch's schools.

    IAM cannot require a session policy, so what keeps a batch session to its schools is the policy
    the caller passes (``luca_platform.batch_access``, the one way ``AwsClients`` assumes this role);
    the trust admits only ``workloads`` by name, and the role's own policy still refuses every key
    that is not a school's (docs/decisions/0011-burst-write-path.md).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: BatchRoleDefinition,
        table_name: str,
        workloads: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        if not workloads:
            raise ValueError("the batch role must admit at least one workload role")
        stack = cdk.Stack.of(self)
        table_arn = stack.format_arn(service="dynamodb", resource="table", resource_name=table_name)
        admitted = iam.AccountRootPrincipal().with_conditions(
            {"ArnEquals": {"aws:PrincipalArn": [role_arn(self, name) for name in workloads]}}
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=definition.name,
            assumed_by=admitted,
            max_session_duration=cdk.Duration.seconds(max(definition.session_duration_seconds, 3600)),
            description="A batch's schools' table access; each session narrowed to them by a session policy",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SchoolPartitionsOnly",
                actions=list(definition.actions),
                resources=[table_arn, f"{table_arn}/index/*"],
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [definition.leading_key_pattern]}
                },
            )
        )
        acknowledge(
            self.role,
            f"IAM5[Resource::arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/{table_name}/index/*]",
            "Every index of the platform table: each index's partition key starts with the school too, and "
            "each session's policy confines its calls to the leading keys of the batch's schools.",
        )
