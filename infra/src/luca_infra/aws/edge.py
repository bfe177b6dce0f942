"""The edge: API Gateway REST API in front of the grading service, behind WAF.

Request path: WAF (managed rule groups + per-IP rate rule) → stage throttling → Cognito user pools
authorizer (the ID token must be valid; the service verifies it again and takes the school only
from it) → ``/v1/{proxy+}`` → private integration over a VPC link V2 → the internal ALB's REST
listener → the service's ``/v1/{proxy}``.

Why a VPC link V2 to the ALB: REST APIs can reach an ALB privately through a VPC link V2 (the
NLB-based V1 links are legacy), so the ALB stays internal, has no public DNS name to protect with a
shared-secret header, and requests never leave the VPC between the edge and the service. The link
is not yet in CDK's L2 integration, so the method's integration is completed with an override.
The integration URI spells the backend path (``/v1/{proxy}``) explicitly; AWS documents that private
integrations may otherwise prefix the stage name to the backend path, which the first deploy should
confirm against the access log's ``path`` and the service's route log.

URLs: the stage is named by the definition (``v1``) and the resource is ``/v1/{proxy+}``, so on the
default execute-api host a route reads ``/v1/v1/evaluations``; behind a custom domain whose base path
maps to the stage it reads ``/v1/evaluations``, the same path the local gateway serves.

Correlation ids: the caller's ``X-Correlation-Id`` is passed through. A proxy integration cannot set
a header only when it is absent, so API Gateway does not mint one; the service mints it (and returns
it) when the header is missing. The gateway's own request id travels as ``X-Edge-Request-Id`` and is
in the access log, so edge and service logs join either way.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from luca_infra.aws.load_balancer import REST_LISTENER_PORT
from luca_infra.aws.nag import acknowledge
from luca_infra.definitions import PlatformDefinition

ROUTE_PREFIX = "v1"
CORRELATION_HEADER = "X-Correlation-Id"
EDGE_REQUEST_ID_HEADER = "X-Edge-Request-Id"
ACCESS_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
INTEGRATION_TIMEOUT = cdk.Duration.seconds(29)
# WAF counts requests per source IP over this window. A school usually reaches us from one public
# IP, so the per-IP ceiling is the school's own allowance over the window, never below it.
WAF_RATE_WINDOW_SECONDS = 300
MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


def access_log_format(school_claim: str) -> dict[str, str]:
    """One JSON line per request. REST access logs cannot read request headers, hence requestId."""
    return {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "school": f"$context.authorizer.claims['{school_claim}']",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "method": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "path": "$context.path",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "requestTime": "$context.requestTime",
        "xrayTraceId": "$context.xrayTraceId",
        "wafStatus": "$context.waf.status",
        "authorizerError": "$context.authorizer.error",
        "error": "$context.error.message",
    }


class EdgeStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        user_pool: cognito.IUserPool,
        vpc: ec2.IVpc,
        link_subnets: ec2.SubnetSelection,
        link_security_group: ec2.ISecurityGroup,
        load_balancer: elbv2.IApplicationLoadBalancer,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        throttling = definition.throttling

        access_logs = logs.LogGroup(self, "AccessLogs", retention=ACCESS_LOG_RETENTION)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=definition.api_name,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,  # the account-level role API Gateway needs to write logs
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=definition.api_stage,
                throttling_rate_limit=throttling.stage_rate_limit,
                throttling_burst_limit=throttling.stage_burst_limit,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(access_log_format(definition.user_pool.school_claim))
                ),
                # Errors only, and never bodies: requests carry minors' personal data.
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
            ),
        )
        acknowledge(
            self.api,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role; AWS maintains this policy for exactly this use "
            "(write to CloudWatch Logs), and stage execution and access logs depend on it.",
        )

        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[user_pool])
        link = apigwv2.VpcLink(
            self, "GradingLink", vpc=vpc, subnets=link_subnets, security_groups=[link_security_group]
        )
        integration = apigw.Integration(
            type=apigw.IntegrationType.HTTP_PROXY,
            integration_http_method="ANY",
            # With a VPC link V2 the URI only sets the Host header and the path; the load balancer is
            # named by the integration target below.
            uri=f"http://{load_balancer.load_balancer_dns_name}:{REST_LISTENER_PORT}/{ROUTE_PREFIX}/{{proxy}}",
            options=apigw.IntegrationOptions(
                request_parameters={
                    "integration.request.path.proxy": "method.request.path.proxy",
                    f"integration.request.header.{CORRELATION_HEADER}": f"method.request.header.{CORRELATION_HEADER}",
                    f"integration.request.header.{EDGE_REQUEST_ID_HEADER}": "context.requestId",
                },
                timeout=INTEGRATION_TIMEOUT,
            ),
        )
        routes = self.api.root.add_resource(ROUTE_PREFIX).add_resource("{proxy+}")
        method = routes.add_method(
            "ANY",
            integration,
            authorizer=authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
            request_parameters={
                "method.request.path.proxy": True,
                f"method.request.header.{CORRELATION_HEADER}": False,
            },
            request_validator_options=apigw.RequestValidatorOptions(validate_request_parameters=True),
        )
        acknowledge(
            self.api,
            "APIG2",
            "Request parameters are validated at the edge; bodies are validated by the grading service "
            "(typed models, RFC 9457 problems), the only place that knows each school's grading scale. "
            "A body validator without a model here would validate nothing.",
        )
        cfn_method = method.node.default_child
        assert isinstance(cfn_method, apigw.CfnMethod)
        cfn_method.add_property_override("Integration.ConnectionType", "VPC_LINK")
        cfn_method.add_property_override("Integration.ConnectionId", link.vpc_link_id)
        cfn_method.add_property_override("Integration.IntegrationTarget", load_balancer.load_balancer_arn)
        # Overrides bypass the deployment's fingerprint: add them, or a changed link would not redeploy.
        if self.api.latest_deployment is not None:
            self.api.latest_deployment.add_to_logical_id(
                {"connectionId": link.vpc_link_id, "integrationTarget": load_balancer.load_balancer_arn}
            )

        self.web_acl = self._web_acl(definition)
        wafv2.CfnWebACLAssociation(
            self,
            "StageFirewall",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )

    def _web_acl(self, definition: PlatformDefinition) -> wafv2.CfnWebACL:
        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
            )

        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=visibility(group),
            )
            for priority, group in enumerate(MANAGED_RULE_GROUPS)
        ]
        per_ip_limit = int(definition.throttling.per_school_rate * WAF_RATE_WINDOW_SECONDS)
        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name="PerIpRate",
                priority=len(rules),
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP",
                        limit=per_ip_limit,
                        evaluation_window_sec=WAF_RATE_WINDOW_SECONDS,
                    )
                ),
                visibility_config=visibility("PerIpRate"),
            )
        )
        return wafv2.CfnWebACL(
            self,
            "Firewall",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(f"{definition.api_name}-waf"),
            rules=rules,
        )
