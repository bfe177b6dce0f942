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
| ``dlq list`` / ``dlq redrive`` | read, hide and delete on the events DLQ; send to the events queue; the batch role (``dlq list`` reads as the processor does, scoped to the messages' schools) |
| ``sync start`` / ``status`` | start, describe and list the sync's executions; the schools parameter |
| ``sync dlq`` / ``sync redrive`` | read, hide and delete on the sync's DLQ; start executions |
| ``sync status``, ``events show`` | the tenant role, tagged with one school (the table only as that school) |
| ``trace`` | X-Ray trace reads; Logs Insights on the runbooks' log groups; the lake's objects |
| ``lake show`` | list the lake bucket |
| ``schools create`` | invite the admin in the pool; create an API key and add it to a usage plan; put the school's p95 alarm; add the school to the sync's schools parameter |
| ``schools export`` | list the pool's users and their groups; the lake's objects (above) |
| ``schools delete`` | the sync's running executions (above); delete users, the key, its plan key, the alarm, the lake's object versions under ``lake/grades/``; remove it from the schools parameter |
| ``schools`` (all) | append to and read the tenant audit log group; the school's items as the school (tenant role) |

The role holds no table permission of its own: a student's events and a sync's progress are read
as the school, through the tenant role, which admits this role by name like the workloads.
"""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from luca_analytics.definition import LAKE_PREFIX
from luca_infra import stage_resources
from luca_infra.aws.analytics import lake_bucket_name
from luca_infra.aws.nag import acknowledge
from luca_infra.aws.tenant_access import (
    batch_role_arn,
    grant_assume_batch_role,
    grant_assume_tenant_role,
    tenant_role_arn,
)
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
        user_pool_arn: str = "",
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
        grant_assume_batch_role(self.role, batch_role_arn(self, definition.batch_role))
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
        self._tenant_lifecycle(definition, lake_bucket_arn, user_pool_arn)
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

    def _tenant_lifecycle(
        self, definition: PlatformDefinition, lake_bucket_arn: str, user_pool_arn: str
    ) -> None:
        """``luca schools``: what creating, exporting and erasing a school needs, outside the table
        (whose items it reaches as the school, through the tenant role)."""
        stack = cdk.Stack.of(self)
        region = stack.region

        def allow(sid: str, actions: list[str], resources: list[str]) -> None:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
            )

        if user_pool_arn:
            allow(
                "SchoolsUsers",
                [
                    "cognito-idp:AdminCreateUser",
                    "cognito-idp:AdminAddUserToGroup",
                    "cognito-idp:AdminGetUser",
                    "cognito-idp:AdminListGroupsForUser",
                    "cognito-idp:AdminDeleteUser",
                    "cognito-idp:ListUsers",
                ],
                [user_pool_arn],
            )

        def gateway(path: str) -> str:
            return f"arn:{stack.partition}:apigateway:{region}::{path}"

        # API Gateway's management API is REST: the verb is the action, the path the resource.
        allow(
            "SchoolsKeysAndPlansRead",
            ["apigateway:GET"],
            [gateway("/apikeys"), gateway("/usageplans"), gateway("/usageplans/*/keys")],
        )
        allow("SchoolsKeysCreate", ["apigateway:POST"], [gateway("/apikeys"), gateway("/usageplans/*/keys")])
        allow(
            "SchoolsKeysDelete",
            ["apigateway:DELETE"],
            [gateway("/apikeys/*"), gateway("/usageplans/*/keys/*")],
        )
        alarm = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{definition.latency_alarm_prefix}-*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        allow(
            "SchoolsAlarms",
            ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"],
            [alarm],
        )
        # The platform-wide p95 alarm matches the schools' prefix; it is the CDK app's, not a school's.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="NotThePlatformAlarm",
                effect=iam.Effect.DENY,
                actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
                resources=[
                    stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=f"{definition.latency_alarm_prefix}-All",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        allow("SchoolsLakeVersions", ["s3:ListBucketVersions"], [lake_bucket_arn])
        allow(
            "EraseSchoolsLakeRows",
            ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            [f"{lake_bucket_arn}/{LAKE_PREFIX}/*"],
        )
        allow(
            "ScheduleSchools",
            ["ssm:PutParameter", "ssm:DeleteParameter"],
            [
                stack.format_arn(
                    service="ssm",
                    resource="parameter",
                    resource_name=definition.govsync.schools_parameter.lstrip("/"),
                )
            ],
        )
        audit = definition.tenant_audit_log_group
        allow(
            "TenantAuditTrail",
            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:FilterLogEvents"],
            [
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=name,
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
                for name in (audit, f"{audit}:*")
            ],
        )
        for finding, reason in (
            (
                "Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/usageplans/*/keys",
                "A tier's usage plan (addressed by API Gateway's ids) and its keys: no other API Gateway resource at all.",
            ),
            (
                "Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/*",
                "API keys are addressed by id only, and every API key of the account is a school's edge key (decision 0006).",
            ),
            (
                "Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/usageplans/*/keys/*",
                "A school's key in its tier's usage plan, which API Gateway addresses by the plan's and key's ids only.",
            ),
            (
                f"Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:{definition.latency_alarm_prefix}-*",
                "The per-school p95 alarms that onboarding creates and erasure deletes; the platform-wide one is explicitly denied.",
            ),
            (
                LAKE_OBJECTS.format(prefix=definition.analytics_aws.lake_bucket_prefix).replace(
                    "/*", f"/{LAKE_PREFIX}/*"
                ),
                "The lake's rows under its partition prefix, erased per school (every version) after a confirmed export.",
            ),
            (
                f"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{audit}:*",
                "The tenant audit log group's own streams: one per lifecycle record, appended and read, never another group.",
            ),
        ):
            acknowledge(self.role, f"IAM5[{finding}]", reason)
