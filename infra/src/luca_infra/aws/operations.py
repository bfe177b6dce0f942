"""``LucaOperations``: the stage's resources document, what ``luca … --stage NAME`` reads, and the role
operators run those commands with (``operator_access``).

One SSM String parameter, ``/luca/<stage>/resources``, holding ``luca_infra.stage_resources.
StageResources`` as JSON: the table, the tenant role, the queues and DLQs, the state machine, the
buckets and the log groups the runbooks name. The local platform writes the same document into its
emulator, so the tools run the same code on both.

Deployed after the stacks whose resources it names (it takes their references, which CloudFormation
resolves inside the JSON; ``Stack.to_json_string`` keeps it valid JSON whatever the values are). The
log groups are named by the definitions, so they need no reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from luca_infra import stage_resources
from luca_infra.aws.operator_access import OperatorRole
from luca_infra.aws.tenant_access import batch_role_arn, tenant_role_arn
from luca_infra.definitions import PlatformDefinition


@dataclass(frozen=True, slots=True)
class StageReferences:
    """What the document names, as the stacks' own tokens."""

    table_name: str
    events_queue_url: str
    events_dlq_url: str
    govsync_state_machine_arn: str
    govsync_dlq_url: str
    govsync_manifest_bucket: str
    lake_bucket: str
    # Not in the document: what the operator role decrypts the lake's rows with.
    lake_key_arn: str
    # The user pool ``luca schools`` invites admins into and erases users from (its ARN: for the role).
    user_pool_id: str = ""
    user_pool_arn: str = ""


def log_groups(definition: PlatformDefinition) -> dict[str, str]:
    return {
        stage_resources.LOG_GRADE_PROCESSOR: definition.ingest.log_group_name,
        stage_resources.LOG_GOVERNMENT_SYNC: definition.govsync.log_group_name,
        stage_resources.LOG_API_ACCESS: definition.api_access_log_group,
        stage_resources.LOG_GRADING: definition.grading.log_group_name,
        stage_resources.LOG_GOVSYNC_API: definition.govsync_api.log_group_name,
        stage_resources.LOG_ANALYTICS_API: definition.analytics_api.log_group_name,
        stage_resources.LOG_TENANT_AUDIT: definition.tenant_audit_log_group,
    }


class OperationsStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        stage: str,
        references: StageReferences,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The tenant lifecycle's audit trail (``luca schools``): kept forever, and kept when the stack
        # goes, since it records schools erased.
        self.tenant_audit = logs.LogGroup(
            self,
            "TenantAudit",
            log_group_name=definition.tenant_audit_log_group,
            retention=logs.RetentionDays.INFINITE,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        document = stage_resources.StageResources(
            stage=stage,
            region=self.region,
            table_name=references.table_name,
            # Built from its defined name, as the service stacks do: no export from LucaData.
            tenant_role_arn=tenant_role_arn(self, definition.tenant_role),
            batch_role_arn=batch_role_arn(self, definition.batch_role),
            events_queue_url=references.events_queue_url,
            events_dlq_url=references.events_dlq_url,
            govsync_state_machine_arn=references.govsync_state_machine_arn,
            govsync_dlq_url=references.govsync_dlq_url,
            govsync_manifest_bucket=references.govsync_manifest_bucket,
            lake_bucket=references.lake_bucket,
            user_pool_id=references.user_pool_id,
            # By its defined name, as the observability stack names it: no export needed.
            alerts_topic_arn=self.format_arn(
                service="sns", resource=definition.alerts_topic, arn_format=cdk.ArnFormat.NO_RESOURCE_NAME
            ),
            log_groups=log_groups(definition),
        )
        name = stage_resources.parameter_name(stage)
        self.parameter = ssm.StringParameter(
            self,
            "StageResources",
            parameter_name=name,
            # The document's own JSON, re-rendered by CDK so the tokens resolve inside valid JSON.
            string_value=self.to_json_string(json.loads(document.to_json())),
            description=f"Luca {stage}: resources the operations tools use (luca … --stage {stage})",
            tier=ssm.ParameterTier.STANDARD,
        )
        cdk.CfnOutput(self, "ResourcesParameter", value=name, description="luca --stage reads this")
        self.operator = OperatorRole(
            self,
            "Operator",
            definition=definition,
            stage=stage,
            lake_key_arn=references.lake_key_arn,
            log_groups=log_groups(definition).values(),
            user_pool_arn=references.user_pool_arn,
        )
