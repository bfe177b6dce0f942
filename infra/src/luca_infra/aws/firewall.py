"""The edge's WAF: what reaches API Gateway at all, and what it says when it refuses.

In rule order (lowest priority first; the first rule that blocks ends the evaluation):

| rule | refuses | answer |
|---|---|---|
| ``AWSManagedRulesAmazonIpReputationList`` | sources AWS's threat intelligence lists (bots, scanners) | 403 |
| ``PerIpRate`` | one IP over a school's own allowance for the window | 429, ``Retry-After`` |
| ``BodyTooLarge`` | a body over the platform's one limit (``request_body_limit_bytes``) | 413 problem |
| ``AWSManagedRulesCommonRuleSet`` | the OWASP top ten (its own 8 KB body rule only counts: ours is the API's limit) | 403 |
| ``AWSManagedRulesKnownBadInputsRuleSet`` | known exploit payloads (Log4j, ...) | 403 |
| ``AWSManagedRulesSQLiRuleSet`` | SQL injection in the query, body, cookies and path | 403 |

- Body size: WAF inspects the first 16 KB of a body behind API Gateway (its default, set here
  explicitly), which is the platform's limit; a larger body is "oversize" and the rule treats it as
  matching, so nothing over the limit passes uninspected. The local gateway and the services refuse
  the same bodies with the same 413, so a client meets one limit everywhere.
- Logs: every request's verdict goes to the log group ``aws-waf-logs-luca-api`` (WAF's required
  prefix) with the ``Authorization`` header redacted: a bearer token in a log would be a credential.
"""

from __future__ import annotations

import json
from http import HTTPStatus

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from luca_infra.definitions import PlatformDefinition
from luca_platform.problems import PROBLEM_BASE, TITLES

# WAF counts requests per source IP over this window. A school usually reaches us from one public
# IP, so the per-IP ceiling is the largest tier's allowance over the window, never below it.
WAF_RATE_WINDOW_SECONDS = 300
IP_REPUTATION = "AWSManagedRulesAmazonIpReputationList"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
)
# The common rule set's body-size rule blocks bodies over 8 KB, under the API's own limit: it only
# counts, and BodyTooLarge enforces the API's limit.
COUNTED_MANAGED_RULES = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}
INSPECTED_BODY = "KB_16"
REDACTED_HEADERS = ("authorization",)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
TOO_LARGE_BODY = "body-too-large"
TOO_MANY_BODY = "too-many-requests"
RATE_RETRY_AFTER_SECONDS = 60


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _problem(status: HTTPStatus, kind: str, detail: str) -> str:
    """The services' problem shape (WAF's response cannot carry the request's correlation id)."""
    return json.dumps(
        {
            "type": PROBLEM_BASE + kind,
            "title": TITLES.get(status.value, status.phrase),
            "status": status.value,
            "detail": detail,
        }
    )


def _managed(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    counted = [
        wafv2.CfnWebACL.RuleActionOverrideProperty(
            name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
        )
        for rule in COUNTED_MANAGED_RULES.get(name, ())
    ]
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=name, rule_action_overrides=counted or None
            )
        ),
        visibility_config=_visibility(name),
    )


def _block(
    status: HTTPStatus, body_key: str, headers: dict[str, str] | None = None
) -> wafv2.CfnWebACL.RuleActionProperty:
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=status.value,
                custom_response_body_key=body_key,
                response_headers=[
                    wafv2.CfnWebACL.CustomHTTPHeaderProperty(name=name, value=value)
                    for name, value in (headers or {}).items()
                ]
                or None,
            )
        )
    )


def edge_firewall(scope: Construct, definition: PlatformDefinition, stage_arn: str) -> wafv2.CfnWebACL:
    """The web ACL in ``scope`` (ids ``Firewall``, ``StageFirewall``, ``FirewallLogs``, ``FirewallLogging``),
    associated with the API stage and logging to its named group."""
    limit = definition.request_body_limit_bytes
    per_ip_limit = int(definition.throttling.max_school_rate * WAF_RATE_WINDOW_SECONDS)
    rules = [
        _managed(IP_REPUTATION, 0),
        wafv2.CfnWebACL.RuleProperty(
            name="PerIpRate",
            priority=1,
            action=_block(
                HTTPStatus.TOO_MANY_REQUESTS, TOO_MANY_BODY, {"Retry-After": str(RATE_RETRY_AFTER_SECONDS)}
            ),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP", limit=per_ip_limit, evaluation_window_sec=WAF_RATE_WINDOW_SECONDS
                )
            ),
            visibility_config=_visibility("PerIpRate"),
        ),
        wafv2.CfnWebACL.RuleProperty(
            name="BodyTooLarge",
            priority=2,
            action=_block(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, TOO_LARGE_BODY),
            statement=wafv2.CfnWebACL.StatementProperty(
                size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                        body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                    ),
                    comparison_operator="GT",
                    size=limit,
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                    ],
                )
            ),
            visibility_config=_visibility("BodyTooLarge"),
        ),
        *(_managed(name, 3 + n) for n, name in enumerate(MANAGED_RULE_GROUPS)),
    ]
    acl = wafv2.CfnWebACL(
        scope,
        "Firewall",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=_visibility(f"{definition.api_name}-waf"),
        rules=rules,
        association_config=wafv2.CfnWebACL.AssociationConfigProperty(
            request_body={
                "API_GATEWAY": wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty(
                    default_size_inspection_limit=INSPECTED_BODY
                )
            }
        ),
        custom_response_bodies={
            TOO_LARGE_BODY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                content_type="APPLICATION_JSON",
                content=_problem(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    "content-too-large",
                    f"a request body may have at most {limit} bytes",
                ),
            ),
            TOO_MANY_BODY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                content_type="APPLICATION_JSON",
                content=_problem(
                    HTTPStatus.TOO_MANY_REQUESTS,
                    "rate-limited",
                    f"too many requests from this address; retry after {RATE_RETRY_AFTER_SECONDS} s",
                ),
            ),
        },
    )
    wafv2.CfnWebACLAssociation(scope, "StageFirewall", resource_arn=stage_arn, web_acl_arn=acl.attr_arn)
    log_group = logs.LogGroup(
        scope, "FirewallLogs", log_group_name=definition.waf_log_group, retention=LOG_RETENTION
    )
    # WAF names a log group without the ":*" that CDK's log_group_arn carries.
    destination = cdk.Stack.of(scope).format_arn(
        service="logs",
        resource="log-group",
        resource_name=definition.waf_log_group,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    logging = wafv2.CfnLoggingConfiguration(
        scope,
        "FirewallLogging",
        log_destination_configs=[destination],
        resource_arn=acl.attr_arn,
        redacted_fields=[
            wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
            for header in REDACTED_HEADERS
        ],
    )
    logging.node.add_dependency(log_group)
    return acl
