"""``LucaNetwork``: what the services behind the load balancer share, and nothing of their own.

    VPC (two AZs, private subnets, VPC endpoints, flow logs) ─ ECS cluster (Container Insights)
    internal ALB: REST listener (:80, from the edge's VPC link only) and gRPC listener (:443, TLS)
    the security group of API Gateway's VPC link (the edge stack creates the link itself)

Grading, the government sync's API and the analytics query service each run in a stack of their
own (``LucaGrading``, ``LucaGovSyncApi``, ``LucaAnalyticsApi``) and add their target groups, path
rules and security-group openings to these listeners from there (``constructs.SharedFront`` is what
they take). Nothing here refers to them, so any of them deploys, rolls back or goes away alone.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from luca_infra.aws.constructs import SharedFront
from luca_infra.aws.load_balancer import InternalLoadBalancer
from luca_infra.aws.network import PrivateNetwork


class NetworkStack(cdk.Stack):
    """The VPC, the cluster and the load balancer; ``front`` is what each service's stack takes."""

    def __init__(self, scope: Construct, construct_id: str, *, certificate_arn: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        network = PrivateNetwork(self, "Network")
        self.vpc = network.vpc
        self.private_subnets = network.private_subnets
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        balancer = InternalLoadBalancer(
            self, "Front", vpc=self.vpc, subnets=self.private_subnets, certificate_arn=certificate_arn
        )
        self.load_balancer = balancer.load_balancer
        self.edge_link_security_group = balancer.edge_link_security_group
        self.front = SharedFront(
            vpc=self.vpc,
            subnets=self.private_subnets,
            cluster=self.cluster,
            load_balancer_security_group=balancer.security_group,
            rest_listener=balancer.rest_listener,
            grpc_listener=balancer.grpc_listener,
        )
