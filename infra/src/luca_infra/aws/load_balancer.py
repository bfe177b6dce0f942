"""The internal Application Load Balancer every Luca service sits behind (``LucaNetwork``).

- REST: plain HTTP on ``REST_LISTENER_PORT``, reachable only from the security group that API
  Gateway's VPC link uses (``edge_link_security_group``). The hop stays inside the VPC.
- gRPC: HTTPS on ``GRPC_LISTENER_PORT`` (ALB serves gRPC only over TLS) for internal clients inside
  the VPC, with the certificate named at deploy time.
- Access logs go to a dedicated, SSL-only, SSE-S3 bucket (the only encryption ALB logs support).
- The listeners hold no service: a request no rule claims gets a 404. Each service's own stack adds
  its target groups and path rules to them (``constructs.LoadBalancedFargateService``), at the
  priorities in ``RULE_PRIORITIES``, and opens its own tasks' security group to this load balancer's.
  So a service ships, or is removed, without touching this stack, which deploys nothing of theirs.
"""

from __future__ import annotations

import json
from http import HTTPStatus

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import region_info
from constructs import Construct

from luca_infra.aws.access_logs import access_log_bucket
from luca_infra.aws.network import VPC_CIDR

# Listener ports (the container ports come from the definition).
REST_LISTENER_PORT = 80
GRPC_LISTENER_PORT = 443
GRPC_HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check"
GRPC_OK = "0"
ACCESS_LOG_DAYS = 365
# Every path: the grading service takes what no other service's rule claims, as its listeners'
# default target did when it owned the load balancer.
CATCH_ALL_PATH = "/*"
# Listener rule priorities (lower is evaluated first), one table for the services that share the
# listeners, because two rules on one listener may not share a priority.
RULE_PRIORITIES: dict[str, dict[str, int]] = {
    "rest": {"analytics-api": 10, "grading": 1000},
    "grpc": {"govsync-api": 10, "analytics-api": 20, "grading": 1000},
}
_NO_SERVICE = json.dumps(
    {"type": "about:blank", "title": "Not Found", "status": HTTPStatus.NOT_FOUND.value},
    separators=(",", ":"),
)


class InternalLoadBalancer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        certificate_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Luca ALB: REST from the API VPC link, gRPC from inside the VPC",
            # Each service's stack opens egress to its own tasks.
            allow_all_outbound=False,
        )
        # API Gateway's VPC link (created by the edge stack) uses this security group; it is the only
        # way into the REST listener.
        self.edge_link_security_group = ec2.SecurityGroup(
            self,
            "EdgeLinkSecurityGroup",
            vpc=vpc,
            description="API Gateway VPC link to the Luca ALB (REST listener only)",
            allow_all_outbound=False,
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=False,
            vpc_subnets=subnets,
            security_group=self.security_group,
            drop_invalid_header_fields=True,
            deletion_protection=True,
        )
        _deliver_access_logs(self.load_balancer, self._access_log_bucket())

        no_service = elbv2.ListenerAction.fixed_response(
            HTTPStatus.NOT_FOUND.value, content_type="application/json", message_body=_NO_SERVICE
        )
        self.rest_listener = self.load_balancer.add_listener(
            "Rest",
            protocol=elbv2.ApplicationProtocol.HTTP,
            port=REST_LISTENER_PORT,
            open=False,
            default_action=no_service,
        )
        self.grpc_listener = self.load_balancer.add_listener(
            "Grpc",
            protocol=elbv2.ApplicationProtocol.HTTPS,
            port=GRPC_LISTENER_PORT,
            open=False,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=no_service,
        )
        self.security_group.add_ingress_rule(
            self.edge_link_security_group, ec2.Port.tcp(REST_LISTENER_PORT), "REST from the API VPC link"
        )
        self.edge_link_security_group.add_egress_rule(
            self.security_group, ec2.Port.tcp(REST_LISTENER_PORT), "REST to the Luca ALB"
        )
        self.security_group.add_ingress_rule(
            ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(GRPC_LISTENER_PORT), "gRPC from inside the VPC"
        )

    def _access_log_bucket(self) -> s3.Bucket:
        # ALB access logs, like S3's, can only be delivered to an SSE-S3 bucket.
        return access_log_bucket(
            self, "AccessLogs", receives="the load balancer's access logs", expiry_days=ACCESS_LOG_DAYS
        )


def rest_targets(
    scope: Construct, construct_id: str, vpc: ec2.IVpc, port: int, health_path: str
) -> elbv2.ApplicationTargetGroup:
    """An HTTP target group on the tasks' IPs, healthy when ``health_path`` answers 200."""
    return elbv2.ApplicationTargetGroup(
        scope,
        construct_id,
        vpc=vpc,
        target_type=elbv2.TargetType.IP,
        protocol=elbv2.ApplicationProtocol.HTTP,
        port=port,
        deregistration_delay=cdk.Duration.seconds(30),
        health_check=elbv2.HealthCheck(
            path=health_path,
            healthy_http_codes="200",
            interval=cdk.Duration.seconds(15),
            healthy_threshold_count=2,
        ),
    )


def grpc_targets(
    scope: Construct, construct_id: str, vpc: ec2.IVpc, port: int
) -> elbv2.ApplicationTargetGroup:
    """A gRPC target group on the tasks' IPs, healthy when ``grpc.health.v1`` answers SERVING."""
    return elbv2.ApplicationTargetGroup(
        scope,
        construct_id,
        vpc=vpc,
        target_type=elbv2.TargetType.IP,
        protocol=elbv2.ApplicationProtocol.HTTP,
        protocol_version=elbv2.ApplicationProtocolVersion.GRPC,
        port=port,
        deregistration_delay=cdk.Duration.seconds(30),
        health_check=elbv2.HealthCheck(
            path=GRPC_HEALTH_CHECK_PATH,
            healthy_grpc_codes=GRPC_OK,
            interval=cdk.Duration.seconds(15),
            healthy_threshold_count=2,
        ),
    )


def _deliver_access_logs(load_balancer: elbv2.ApplicationLoadBalancer, bucket: s3.Bucket) -> None:
    """Turn on ALB access logs in an environment-agnostic stack.

    CDK's ``log_access_logs`` needs a concrete region (the writer's principal differs by region),
    and these stacks are environment-agnostic. So the bucket policy decides at deploy time: Regions
    older than August 2022 deliver as a regional Elastic Load Balancing account (a mapping from
    CDK's region facts); every other Region as the ``logdelivery.elasticloadbalancing`` service.
    """
    stack = cdk.Stack.of(load_balancer)
    accounts = {
        info.name: info.elbv2_account for info in region_info.RegionInfo.regions if info.elbv2_account
    }
    mapping = cdk.CfnMapping(
        stack,
        "ElbLogDeliveryAccounts",
        mapping={region: {"account": account} for region, account in accounts.items()},
    )
    legacy_region = cdk.CfnCondition(
        stack, "ElbLogDeliveryByAccount", expression=_any_region(sorted(accounts), stack.region)
    )
    account_root = cdk.Fn.sub(
        "arn:${AWS::Partition}:iam::${Account}:root",
        {"Account": mapping.find_in_map(stack.region, "account")},
    )
    bucket.add_to_resource_policy(
        iam.PolicyStatement.from_json(
            {
                "Sid": "ElbAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {
                    "AWS": cdk.Fn.condition_if(legacy_region.logical_id, account_root, cdk.Aws.NO_VALUE),
                    "Service": "logdelivery.elasticloadbalancing.amazonaws.com",
                },
                "Action": "s3:PutObject",
                "Resource": bucket.arn_for_objects(f"AWSLogs/{stack.account}/*"),
            }
        )
    )
    load_balancer.set_attribute("access_logs.s3.enabled", "true")
    load_balancer.set_attribute("access_logs.s3.bucket", bucket.bucket_name)
    # The load balancer checks that it may write when the attribute is set: policy first.
    if bucket.policy is not None:
        load_balancer.node.add_dependency(bucket.policy)


def _any_region(regions: list[str], region: str) -> cdk.ICfnConditionExpression:
    """``Fn::Or`` over "region is one of these"; Fn::Or takes 2..10 operands, so nest in tens."""
    expressions: list[cdk.ICfnConditionExpression] = [
        cdk.Fn.condition_equals(region, name) for name in regions
    ]
    while len(expressions) > 1:
        expressions = [
            cdk.Fn.condition_or(*chunk) if len(chunk) > 1 else chunk[0]
            for chunk in (expressions[i : i + 10] for i in range(0, len(expressions), 10))
        ]
    return expressions[0]
