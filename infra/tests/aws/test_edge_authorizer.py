"""Per-school throttling on AWS: the REQUEST authorizer, the tier usage plans, the edge's refusals."""

from __future__ import annotations

import json
from typing import Any

from luca_edge.definition import HANDLER
from luca_infra.aws.edge_authorizer import AUTHORIZER_CONTEXT_ALLOWLIST, AUTHORIZER_DOCKERFILE
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.deployables import deployables
from luca_infra.workspace import REPO_ROOT
from luca_platform.problems import PROBLEM_BASE
from luca_platform.school_keys import usage_plan_name

DEFINITION = PLATFORM_DEFINITION
EDGE = "LucaEdge"


def _function(synthesized: Any) -> tuple[str, dict[str, Any]]:
    functions = synthesized.resources(EDGE, "AWS::Lambda::Function")
    (found,) = [
        (lid, f)
        for lid, f in functions.items()
        if f["Properties"].get("FunctionName") == DEFINITION.authorizer.function_name
    ]
    return found


def test_the_authorizer_is_keyed_on_the_token_and_cached_for_the_definitions_ttl(synthesized: Any) -> None:
    _, authorizer = synthesized.only(EDGE, "AWS::ApiGateway::Authorizer")
    properties = authorizer["Properties"]
    assert properties["Type"] == "REQUEST"
    assert properties["IdentitySource"] == "method.request.header.Authorization"
    assert properties["AuthorizerResultTtlInSeconds"] == DEFINITION.authorizer.cache_seconds
    # Never past the ID token's own life.
    assert DEFINITION.authorizer.cache_seconds <= DEFINITION.user_pool.id_token_validity_minutes * 60
    function_id, _ = _function(synthesized)
    assert function_id in json.dumps(properties["AuthorizerUri"])


def test_the_authorizer_function_is_the_edge_image_with_the_pools_settings(synthesized: Any) -> None:
    _, function = _function(synthesized)
    properties = function["Properties"]
    assert properties["PackageType"] == "Image"
    assert properties["MemorySize"] == DEFINITION.authorizer.memory_mib
    assert properties["Timeout"] == DEFINITION.authorizer.timeout_seconds
    assert properties["TracingConfig"] == {"Mode": "Active"}
    environment = properties["Environment"]["Variables"]
    assert "Fn::ImportValue" in json.dumps(environment["LUCA_USER_POOL_ID"])
    assert "Fn::ImportValue" in json.dumps(environment["LUCA_USER_POOL_CLIENT_ID"])
    assert environment["LUCA_SCHOOL_CLAIM"] == DEFINITION.user_pool.school_claim
    groups = synthesized.resources(EDGE, "AWS::Logs::LogGroup").values()
    assert DEFINITION.authorizer.log_group in {g["Properties"].get("LogGroupName") for g in groups}
    # Built from its own Dockerfile, whose CMD is the handler the service names.
    dockerfile = (REPO_ROOT / AUTHORIZER_DOCKERFILE).read_text()
    assert f'CMD ["{HANDLER}"]' in dockerfile


def test_the_authorizer_may_write_its_logs_and_traces_and_nothing_else(synthesized: Any) -> None:
    actions = set()
    for policy in synthesized.resources(EDGE, "AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if "EdgeAuthorizerRole" not in roles:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found = statement["Action"]
            actions |= set(found if isinstance(found, list) else [found])
    assert actions
    assert all(action.split(":")[0] in {"logs", "xray"} for action in actions), actions


def test_a_usage_plan_per_tier_with_the_tiers_limits_and_no_keys_in_the_template(synthesized: Any) -> None:
    plans = {
        p["Properties"]["UsagePlanName"]: p["Properties"]
        for p in synthesized.resources(EDGE, "AWS::ApiGateway::UsagePlan").values()
    }
    assert set(plans) == {usage_plan_name(tier.name) for tier in DEFINITION.throttling.tiers}
    for tier in DEFINITION.throttling.tiers:
        plan = plans[usage_plan_name(tier.name)]
        assert plan["Throttle"] == {"RateLimit": tier.rate, "BurstLimit": tier.burst}
        (stage,) = plan["ApiStages"]
        assert "Ref" in json.dumps(stage["ApiId"])
        # One bucket of this shape per key: a key is a school, never shared by a tier.
        assert "Quota" not in plan
    # Keys are onboarding's (`luca schools create`), not the deployment's.
    assert synthesized.resources(EDGE, "AWS::ApiGateway::ApiKey") == {}
    assert synthesized.resources(EDGE, "AWS::ApiGateway::UsagePlanKey") == {}


def test_the_school_key_comes_from_the_authorizer_on_every_route(synthesized: Any) -> None:
    _, api = synthesized.only(EDGE, "AWS::ApiGateway::RestApi")
    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    methods = [
        m["Properties"]
        for m in synthesized.resources(EDGE, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    ]
    assert len(methods) >= 3  # the proxy route and the two burst routes
    for method in methods:
        assert method["AuthorizationType"] == "CUSTOM"
        assert method["ApiKeyRequired"] is True


def test_api_gateway_may_invoke_the_authorizer(synthesized: Any) -> None:
    function_id, _ = _function(synthesized)
    permissions = synthesized.resources(EDGE, "AWS::Lambda::Permission").values()
    assert any(
        p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and function_id in json.dumps(p["Properties"]["FunctionName"])
        for p in permissions
    )


def _responses(synthesized: Any) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.resources(EDGE, "AWS::ApiGateway::GatewayResponse").values()
    }


def test_the_authorizers_refusals_are_problems(synthesized: Any) -> None:
    responses = _responses(synthesized)
    expected = {
        "UNAUTHORIZED": (401, "unauthenticated"),
        "INVALID_API_KEY": (403, "school-not-enabled"),
        "AUTHORIZER_FAILURE": (503, "unavailable"),
        "AUTHORIZER_CONFIGURATION_ERROR": (503, "unavailable"),
    }
    for response_type, (status, kind) in expected.items():
        response = responses[response_type]
        assert response["StatusCode"] == str(status)
        headers = response["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        problem = json.loads(response["ResponseTemplates"]["application/json"])
        assert (problem["status"], problem["type"]) == (status, PROBLEM_BASE + kind)
    assert responses["UNAUTHORIZED"]["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"] == (
        "'Bearer'"
    )
    assert "gatewayresponse.header.Retry-After" in responses["AUTHORIZER_FAILURE"]["ResponseParameters"]


def test_the_authorizer_image_is_a_deployable_of_the_edge_stack() -> None:
    image = deployables()["edge-authorizer-image"]
    assert (image.kind, image.service, image.stack) == ("image", "edge", EDGE)
    assert image.dockerfile == AUTHORIZER_DOCKERFILE
    assert image.allowlist == AUTHORIZER_CONTEXT_ALLOWLIST
