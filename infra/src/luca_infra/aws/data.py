"""The shared data layer (``LucaData``): the one DynamoDB table of the single-table design, and the
tenant role, the only identity allowed to touch it (one school per session; see ``tenant_access``).

Keys, indexes, TTL attribute and stream view come from the definitions (which take them from the
table's design in ``luca_platform.table.keys``); nothing is spelled here. The tenant role lives here,
not with any one service, because every workload that acts for a school assumes it, and each of
their stacks depends on this one already (for the table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from luca_infra.aws.tenant_access import BatchTenantRole, TenantRole
from luca_infra.definitions import BatchRoleDefinition, TableDefinition, TenantRoleDefinition


def _string_key(name: str) -> dynamodb.Attribute:
    # Every key attribute of the design is a string (keys.KEY_ATTRIBUTES).
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class GradingTable(Construct):
    """The platform table: on demand, PITR, stream, TTL, deletion protection, retained on stack delete."""

    def __init__(self, scope: Construct, construct_id: str, *, definition: TableDefinition) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=definition.name,
            partition_key=_string_key(definition.partition_key),
            sort_key=_string_key(definition.sort_key),
            # On demand: the recess burst is 5k req/s for minutes, then near zero.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=definition.point_in_time_recovery
            ),
            stream=dynamodb.StreamViewType[definition.stream_view],
            time_to_live_attribute=definition.ttl_attribute,
            deletion_protection=definition.deletion_protection,
            # Official grades outlive any stack: deleting the stack must never delete the table.
            removal_policy=cdk.RemovalPolicy.RETAIN,
            # AWS-owned keys are not enough for minors' data, so KMS encryption with the AWS managed
            # key. Not a customer managed key: isolation between schools is enforced by the tenant
            # role's LeadingKeys condition, which a key policy cannot refine (one key covers the
            # whole table), while a CMK would add KMS permissions to every per-school session.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
        )
        for index in definition.indexes:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string_key(index.partition_key),
                sort_key=_string_key(index.sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )


class DataStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: TableDefinition,
        tenant_role: TenantRoleDefinition,
        tenant_workloads: Sequence[str],
        batch_role: BatchRoleDefinition,
        batch_workloads: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = GradingTable(self, "Grading", definition=definition).table
        # The workload roles it admits are named, not referenced: no stack of theirs is a dependency.
        self.tenant_role = TenantRole(
            self,
            "TenantAccess",
            definition=tenant_role,
            table_name=definition.name,
            workloads=tenant_workloads,
        ).role
        self.batch_role = BatchTenantRole(
            self,
            "BatchAccess",
            definition=batch_role,
            table_name=definition.name,
            workloads=batch_workloads,
        ).role
