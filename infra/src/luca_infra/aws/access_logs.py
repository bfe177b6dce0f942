"""The bucket every private bucket's access logs go to, made the same way in every stack.

S3 server access logs and ALB access logs can only be delivered to an SSE-S3 bucket, and a log
bucket's own access logs would need yet another bucket, so each is private, SSL-only, owner-enforced,
kept when its stack goes, expires its logs, and acknowledges cdk-nag's S1 with what it receives.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from luca_infra.aws.nag import acknowledge


def access_log_bucket(scope: Construct, construct_id: str, *, receives: str, expiry_days: int) -> s3.Bucket:
    """A log bucket in ``scope`` (its logical id is ``construct_id``'s, as if made there directly)."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(expiry_days))],
    )
    acknowledge(
        bucket,
        "S1",
        f"This bucket only receives {receives}; access logs for it would need yet another log bucket. "
        "It is private, SSL-only and written by the logging service alone.",
    )
    return bucket
