"""``LucaAudit``: the CloudTrail trail, who did what to the platform and to minors' data.

    management events (every region's API calls on the account, read and write)
    data events: the platform table (DynamoDB), the lake and the government sync's manifests (S3 objects)
        └► s3://luca-cloudtrail-logs-<account>-<region> (KMS, versioned, access-logged, TLS only)
        └► CloudWatch Logs /aws/cloudtrail/luca-audit (a year), for Logs Insights and metric filters

- Deployed after ``LucaData``, ``LucaGovSync`` and ``LucaAnalytics`` (it names their table and
  buckets), so no shared stack refers to a service stack.
- Advanced event selectors: basic selectors cannot select DynamoDB data events, and a trail takes one
  kind or the other, so management events are an advanced selector too.
- Log file validation is on (digest files signed by CloudTrail), so tampering with delivered logs
  shows. The bucket's key is this stack's own, usable by CloudTrail for this account's trails only.
- Data events on the table cost per event (USD 0.10 per 100,000); the burst path writes one or two
  items per student event, so that is the trail's main cost. Logged anyway: these are minors' grades.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from luca_infra.aws.access_logs import access_log_bucket
from luca_infra.definitions import PlatformDefinition

TRAIL_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
# Audit logs outlive a school year and its appeals; older versions (overwrites cannot happen, CloudTrail
# writes new objects) are kept a month.
TRAIL_EXPIRY_DAYS = 2557  # seven years
ACCESS_LOG_DAYS = 400
ACCESS_LOG_PREFIX = "cloudtrail/"


class AuditStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        table: dynamodb.ITable,
        data_buckets: dict[str, s3.IBucket],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        trail_arn = self.format_arn(
            service="cloudtrail", resource="trail", resource_name=definition.trail_name
        )
        key = kms.Key(
            self, "TrailKey", enable_key_rotation=True, description="Encrypts the CloudTrail log files"
        )
        # CloudTrail encrypts for this account's trail only; readers decrypt through S3 (key policy
        # statements, as CloudTrail's documentation gives them, narrowed by source ARN).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncrypts",
                actions=["kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": self.format_arn(
                            service="cloudtrail", resource="trail", resource_name="*"
                        )
                    },
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailDescribes",
                actions=["kms:DescribeKey"],
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceArn": trail_arn}},
            )
        )
        access_logs = access_log_bucket(
            self,
            "TrailAccessLogs",
            receives="the trail bucket's server access logs",
            expiry_days=ACCESS_LOG_DAYS,
        )
        self.bucket = s3.Bucket(
            self,
            "TrailLogs",
            bucket_name=f"{definition.trail_bucket_prefix}-{cdk.Aws.ACCOUNT_ID}-{cdk.Aws.REGION}",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAuditLogs",
                    expiration=cdk.Duration.days(TRAIL_EXPIRY_DAYS),
                    noncurrent_version_expiration=cdk.Duration.days(30),
                )
            ],
        )
        self.log_group = logs.LogGroup(
            self,
            "TrailEvents",
            log_group_name=definition.trail_log_group,
            retention=TRAIL_LOG_RETENTION,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=definition.trail_name,
            bucket=self.bucket,
            encryption_key=key,
            enable_file_validation=True,
            include_global_service_events=True,
            is_multi_region_trail=True,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=self.log_group,
        )
        cfn_trail = self.trail.node.default_child
        assert isinstance(cfn_trail, cloudtrail.CfnTrail)
        # CDK adds the logs role to DependsOn, which the role's GetAtt already implies (W3005).
        cfn_trail.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        # The L2 always renders (empty) basic selectors; a trail takes one kind or the other.
        cfn_trail.add_property_deletion_override("EventSelectors")
        cfn_trail.advanced_event_selectors = advanced_event_selectors(
            table_arn=table.table_arn, bucket_arns=[bucket.bucket_arn for bucket in data_buckets.values()]
        )


def advanced_event_selectors(
    *, table_arn: str, bucket_arns: list[str]
) -> list[cdk.IResolvable | cloudtrail.CfnTrail.AdvancedEventSelectorProperty]:
    F = cloudtrail.CfnTrail.AdvancedFieldSelectorProperty
    selectors: list[cdk.IResolvable | cloudtrail.CfnTrail.AdvancedEventSelectorProperty] = [
        cloudtrail.CfnTrail.AdvancedEventSelectorProperty(
            name="Management events",
            field_selectors=[F(field="eventCategory", equal_to=["Management"])],
        ),
        cloudtrail.CfnTrail.AdvancedEventSelectorProperty(
            name="Platform table data events",
            field_selectors=[
                F(field="eventCategory", equal_to=["Data"]),
                F(field="resources.type", equal_to=["AWS::DynamoDB::Table"]),
                F(field="resources.ARN", equal_to=[table_arn]),
            ],
        ),
        cloudtrail.CfnTrail.AdvancedEventSelectorProperty(
            name="Lake and manifest object data events",
            field_selectors=[
                F(field="eventCategory", equal_to=["Data"]),
                F(field="resources.type", equal_to=["AWS::S3::Object"]),
                # Object ARNs start with the bucket's ARN and a slash.
                F(field="resources.ARN", starts_with=[cdk.Fn.join("", [arn, "/"]) for arn in bucket_arns]),
            ],
        ),
    ]
    return selectors
