"""``luca-operator``: the role an operator assumes to run ``luca … --stage NAME``, and nothing more.

Operators sign in the usual way (SSO, a profile) and assume this role, e.g. a profile with
``role_arn = <the OperatorRoleArn output>``; the tools take credentials from that chain. Any principal
of the account whose own policy allows ``sts:AssumeRole`` on it may assume it (the account decides
who its operators are; the stack does not name people).

What each command needs, resource by resource, named by the definitions (no other stack's export but
the lake's key):

| command | grants |
|---|---|
| every ``--stage`` command | ``ssm:GetParameter`` on ``/luca/<stage>/resources`` |
| ``dlq list`` / ``dlq redrive`` | read, hide and delete on the events DLQ; send to the events queue |
| ``sync start`` / ``status`` | start, describe and list the sync's executions; the schools parameter |
| ``sync dlq`` / ``sync redrive`` | read, hide and delete on the sync's DLQ; start executions |
| ``sync status``, ``events show`` | the tenant role, tagged with one school (the table only as that school) |
| ``trace`` | X-Ray trace reads; Logs Insights on the runbooks' log groups; the lake's objects |
| ``lake show`` | list the lake bucket |

The role holds no table permission of its own: a student's events and a sync's progress are read
as the school, through the tenant role, which admits this role by name like the workloads.
"""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from luca_infra import stage_resources
from luca_infra.aws.analytics import lake_bucket_name
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.tenant_access import grant_assume_tenant_role, tenant_role_arn
from luca_infra.definitions import PlatformDefinition

MAX_SESSION = cdk.Duration.hours(1)
LAKE_OBJECTS = "Resource::arn:<AWS::Partition>:s3:::{prefix}-<AWS::AccountId>-<AWS::Region>/*"


class OperatorRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        stage: str,
        lake_key_arn: str,
        log_groups: Iterable[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        log_groups = tuple(log_groups)
        # By its name, as the query service names it: no export from LucaAnalytics but the key's.
        lake_bucket_arn = f"arn:{stack.partition}:s3:::{lake_bucket_name(definition.analytics_aws)}"
        self.role = iam.Role(
            self,
            "Role",
            role_name=definition.operator_role_name,
            assumed_by=iam.AccountRootPrincipal(),
            max_session_duration=MAX_SESSION,
            description=f"Luca {stage} operators: the luca CLI's --stage commands (DLQs, sync, trace, lake)",
        )

        def arn(service: str, resource: str, name: str = "", sep: cdk.ArnFormat | None = None) -> str:
            return stack.format_arn(
                service=service,
                resource=resource,
                resource_name=name or None,
                arn_format=sep or cdk.ArnFormat.SLASH_RESOURCE_NAME,
            )

        def allow(sid: str, actions: list[str], resources: list[str]) -> None:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
            )

        parameters = [stage_resources.parameter_name(stage), definition.govsync.schools_parameter]
        allow(
            "StageDocumentAndSchools",
            ["ssm:GetParameter"],
            [arn("ssm", "parameter", name.lstrip("/")) for name in parameters],
        )
        dead_letter_queues = [definition.ingest.dlq_name, definition.govsync.dlq_name]
        allow(
            "ReadAndClearDeadLetters",
            [
                "sqs:ReceiveMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ],
            [stack.format_arn(service="sqs", resource=name) for name in dead_letter_queues],
        )
        allow(
            "RedriveIntoTheEventsQueue",
            ["sqs:SendMessage", "sqs:GetQueueAttributes"],
            [stack.format_arn(service="sqs", resource=definition.ingest.queue_name)],
        )
        machine = definition.govsync.state_machine_name
        allow(
            "StartAndListTheSync",
            ["states:StartExecution", "states:ListExecutions"],
            [arn("states", "stateMachine", machine, cdk.ArnFormat.COLON_RESOURCE_NAME)],
        )
        allow(
            "FollowTheSyncsExecutions",
            ["states:DescribeExecution"],
            [arn("states", "execution", f"{machine}:*", cdk.ArnFormat.COLON_RESOURCE_NAME)],
        )
        grant_assume_tenant_role(self.role, tenant_role_arn(self, definition.tenant_role))
        allow(
            "QueryTheRunbooksLogGroups",
            ["logs:StartQuery"],
            # Both forms: the group itself and ``:*``, as StartQuery has been evaluated against either.
            [
                arn("logs", "log-group", name, cdk.ArnFormat.COLON_RESOURCE_NAME)
                for group in log_groups
                for name in (group, f"{group}:*")
            ],
        )
        allow("ReadTraces", ["xray:GetTraceSummaries", "xray:BatchGetTraces", "logs:GetQueryResults"], ["*"])
        allow("ListTheLake", ["s3:ListBucket"], [lake_bucket_arn])
        allow("ReadLakeRows", ["s3:GetObject"], [f"{lake_bucket_arn}/*"])
        allow("DecryptLakeRows", ["kms:Decrypt"], [lake_key_arn])
        acknowledge(
            self.role,
            "IAM5[Resource::*]",
            "X-Ray's trace reads and Logs Insights' GetQueryResults support no resource-level "
            "permissions; they read telemetry only, which carries ids, never grades.",
        )
        for wildcard in (
            f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{machine}:*",
            LAKE_OBJECTS.format(prefix=definition.analytics_aws.lake_bucket_prefix),
            *(
                f"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{group}:*"
                for group in log_groups
            ),
        ):
            acknowledge(
                self.role,
                f"IAM5[{wildcard}]",
                "The sync's own executions (named when they start), the lake's own objects and the "
                "runbooks' own log groups' streams: nothing outside them.",
            )
        cdk.CfnOutput(
            stack,
            "OperatorRoleArn",
            value=self.role.role_arn,
            description="Assume this role (a profile's role_arn) to run luca … --stage",
        )
