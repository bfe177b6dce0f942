"""Luca's network (in ``LucaNetwork``): a two-AZ VPC whose AWS traffic stays on private endpoints.

Tasks run in private subnets. Everything on the request path (STS for per-school credentials,
DynamoDB) and everything a task needs to start (ECR, the image layers in S3, CloudWatch Logs) and to
trace (X-Ray) goes through VPC endpoints, so grades never cross the internet and a NAT outage cannot
stop the services. The NAT gateways remain for the two things that have no private path: the
Cognito user pool's JWKS document (the services verify tokens themselves) and the public image of the
OpenTelemetry collector sidecar.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from luca_infra.definitions import AVAILABILITY_ZONES

# A literal CIDR (not the VPC's CidrBlock attribute) so that security-group rules built from it can
# be checked at synth time.
VPC_CIDR = "10.40.0.0/16"
FLOW_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

_INTERFACE_ENDPOINTS = {
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
}


class PrivateNetwork(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=FLOW_LOG_RETENTION)
        # No lookups: the AZs resolve at deploy time (Fn::GetAZs), so synth needs no account.
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=AVAILABILITY_ZONES,
            nat_gateways=AVAILABILITY_ZONES,  # one per AZ: losing an AZ must not cut the other's egress
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
            # Nothing uses the default security group; every resource here gets its own. Locking it
            # down would need a custom-resource Lambda for no traffic at all.
            restrict_default_security_group=False,
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        # Gateway endpoints are free and carry the hot path (DynamoDB) and ECR's layers (S3).
        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        endpoints = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface VPC endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        endpoints.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "HTTPS from inside the VPC")
        for name, service in _INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(
                name, service=service, subnets=self.private_subnets, security_groups=[endpoints], open=False
            )
