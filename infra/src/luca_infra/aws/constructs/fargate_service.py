"""A Fargate service behind the shared internal ALB, in the stack of the service it runs.

Grading, the government sync's API and the analytics query service are each one of these, in a
stack of its own (``LucaGrading``, ``LucaGovSyncApi``, ``LucaAnalyticsApi``). What the shared stack
(``LucaNetwork``) provides comes in as ``SharedFront``; everything else is created here:

- the task role, which only ECS tasks of this account may wear (confused-deputy guard), named so the
  tenant role's trust can admit it by name (``tenant_access``); the stack grants what its service
  needs, and this construct only the X-Ray writes of the tracing sidecar;
- the task definition (x86_64 Linux, the wheels of the service's lock), its service container (read-only
  root filesystem, a scratch volume on /tmp, non-blocking logs to its own log group, plain
  environment plus ECS ``secrets``) and the ADOT collector sidecar;
- the tasks' security group, the Fargate service (never below its warm minimum during a deployment,
  circuit breaker with rollback, private subnets only, tasks rebalanced across the AZs) and its CPU
  scaling;
- per route, a target group (REST: HTTP with a health path; gRPC: protocol version GRPC with the
  ``grpc.health.v1`` check) and a path rule on the shared listener, at the service's priority.

The shared listeners and the load balancer's security group are imported into this stack by ARN
and id, so the security-group rules between the load balancer and the tasks (ingress on the tasks,
egress on the load balancer) are created here, never in the shared stack: it never depends on a
service's stack, and removing a service removes its openings too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from luca_infra.aws.containers import LOG_RETENTION, SCRATCH_VOLUME, add_collector, mount_scratch
from luca_infra.aws.load_balancer import grpc_targets, rest_targets
from luca_infra.aws.nag import acknowledge

DEPLOYMENT_HEALTH_GRACE = cdk.Duration.seconds(60)
SCALE_OUT_COOLDOWN = cdk.Duration.seconds(60)
SCALE_IN_COOLDOWN = cdk.Duration.seconds(300)


@dataclass(frozen=True, slots=True)
class SharedFront:
    """What a service behind the shared load balancer takes from the shared stack."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    cluster: ecs.ICluster
    load_balancer_security_group: ec2.ISecurityGroup
    rest_listener: elbv2.IApplicationListener
    grpc_listener: elbv2.IApplicationListener


class Listener(StrEnum):
    REST = "rest"
    GRPC = "grpc"


@dataclass(frozen=True, slots=True)
class Route:
    """One container port behind one shared listener, for these path patterns."""

    listener: Listener
    port: int
    port_name: str
    paths: tuple[str, ...]
    priority: int
    # REST only: the path the target group's health check GETs (200 is healthy).
    health_path: str = ""


class LoadBalancedFargateService(Construct):
    """``task_role``, ``task_definition``, ``container``, ``security_group``, ``service``, ``target_groups``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        front: SharedFront,
        container_name: str,
        image: ecs.ContainerImage,
        task_role_name: str,
        task_role_description: str,
        cpu: int,
        memory_mib: int,
        min_tasks: int,
        max_tasks: int,
        target_cpu_percent: int,
        environment: Mapping[str, str],
        environment_reason: str,
        routes: Sequence[Route],
        collector_image: str,
        secrets: Mapping[str, ecs.Secret] | None = None,
        health_check: ecs.HealthCheck | None = None,
        log_max_buffer: cdk.Size | None = None,
        log_group_name: str | None = None,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        if not routes:
            raise ValueError(f"{container_name} has no route: a service behind the load balancer needs one")
        if any(r.listener is Listener.REST and not r.health_path for r in routes):
            raise ValueError(f"{container_name}: a REST route needs the path its health check reads")
        stack = cdk.Stack.of(self)

        # -- identity ------------------------------------------------------------------------------
        self.task_role = iam.Role(
            self,
            "TaskRole",
            role_name=task_role_name,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": stack.format_arn(service="ecs", resource="*")},
                }
            ),
            description=task_role_description,
        )
        # The collector sidecar shares the task role; X-Ray has no resource-level permissions.
        iam.Grant.add_to_principal(
            grantee=self.task_role,
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            resource_arns=["*"],
        )
        acknowledge(
            self.task_role,
            "IAM5[Resource::*]",
            "Only xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level "
            "permissions (the trace collector sidecar shares the task role). Write-only telemetry, no data access.",
        )

        # -- task ----------------------------------------------------------------------------------
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Definition",
            cpu=cpu,
            memory_limit_mib=memory_mib,
            task_role=self.task_role,
            # The locks' wheels are x86_64 Linux; build and run the same architecture.
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            volumes=[ecs.Volume(name=SCRATCH_VOLUME)],
        )
        # Named (when given) for the runbooks and the stage's resources document (luca trace --stage).
        log_group = logs.LogGroup(self, "Logs", log_group_name=log_group_name, retention=LOG_RETENTION)
        self.log_group = log_group
        ports = {route.port: route.port_name for route in routes}
        self.container = self.task_definition.add_container(
            container_name,
            image=image,
            essential=True,
            readonly_root_filesystem=True,
            port_mappings=[ecs.PortMapping(container_port=port, name=name) for port, name in ports.items()],
            environment=dict(environment),
            # Read by the execution role when the task starts; the task role never reads them.
            secrets=dict(secrets) if secrets else None,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=container_name,
                log_group=log_group,
                # Never block a request on CloudWatch Logs back-pressure.
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=log_max_buffer,
            ),
            health_check=health_check,
        )
        mount_scratch(self.container)
        add_collector(self.task_definition, image=collector_image, log_group=log_group)
        acknowledge(self.task_definition, "ECS2", environment_reason)
        acknowledge(
            self.task_definition.obtain_execution_role(),
            "IAM5[Resource::*]",
            "CDK's generated execution-role policy: ecr:GetAuthorizationToken supports no resource-level "
            "permissions. Image pulls, log writes and any secret reads are scoped to their resources.",
        )

        # -- service -------------------------------------------------------------------------------
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=front.vpc,
            description=f"{description}: its ports from the load balancer only",
            # Tasks call AWS endpoints and the NAT (JWKS, collector image); nothing inbound but the ALB.
            allow_all_outbound=True,
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=front.cluster,
            task_definition=self.task_definition,
            desired_count=min_tasks,
            min_healthy_percent=100,  # deployments never drop below the warm minimum
            max_healthy_percent=200,
            # After an AZ's outage its tasks come back in the other AZ; rebalancing moves them back,
            # so the minimum keeps one task in each AZ (decision 0013).
            availability_zone_rebalancing=ecs.AvailabilityZoneRebalancing.ENABLED,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=front.subnets,
            security_groups=[self.security_group],
            assign_public_ip=False,
            health_check_grace_period=DEPLOYMENT_HEALTH_GRACE,
        )
        self.target_groups = self._routes(front, container_name, routes)
        scaling = self.service.auto_scale_task_count(min_capacity=min_tasks, max_capacity=max_tasks)
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=target_cpu_percent,
            scale_out_cooldown=SCALE_OUT_COOLDOWN,
            scale_in_cooldown=SCALE_IN_COOLDOWN,
        )

    def _routes(
        self, front: SharedFront, container_name: str, routes: Sequence[Route]
    ) -> dict[Route, elbv2.ApplicationTargetGroup]:
        # Imported here (mutable, no blanket egress) so that registering the targets opens the load
        # balancer's egress and the tasks' ingress in this stack.
        balancer_group = ec2.SecurityGroup.from_security_group_id(
            self,
            "LoadBalancerSecurityGroup",
            front.load_balancer_security_group.security_group_id,
            allow_all_outbound=False,
            mutable=True,
        )
        listeners = {
            kind: elbv2.ApplicationListener.from_application_listener_attributes(
                self,
                f"{kind.value.capitalize()}Listener",
                listener_arn=listener.listener_arn,
                security_group=balancer_group,
            )
            for kind, listener in ((Listener.REST, front.rest_listener), (Listener.GRPC, front.grpc_listener))
        }
        target_groups = {}
        for route in routes:
            name = "".join(part.capitalize() for part in route.port_name.split("-"))
            if route.listener is Listener.REST:
                targets = rest_targets(self, f"{name}Targets", front.vpc, route.port, route.health_path)
            else:
                targets = grpc_targets(self, f"{name}Targets", front.vpc, route.port)
            elbv2.ApplicationListenerRule(
                self,
                f"{name}Rule",
                listener=listeners[route.listener],
                priority=route.priority,
                conditions=[elbv2.ListenerCondition.path_patterns(list(route.paths))],
                target_groups=[targets],
            )
            targets.add_target(
                self.service.load_balancer_target(container_name=container_name, container_port=route.port)
            )
            target_groups[route] = targets
        return target_groups
