"""The edge's per-school throttling on AWS: the REQUEST authorizer and a usage plan per tier.

* **The authorizer** (``services/edge``, a container-image Lambda): verifies the Cognito ID token
  with the services' own verifier, returns the principal as context and the school's key as
  ``usageIdentifierKey``. Identity source: the ``Authorization`` header, so API Gateway caches each
  answer per token for ``AuthorizerDefinition.cache_seconds``. An image, not a zip: see the
  Dockerfile (the token library's native wheels).
* **A usage plan per tier** (``ThrottlingDefinition.tiers``), named ``luca-tier-<tier>``
  (``luca_platform.school_keys.usage_plan_name``). The schools' keys are not created here:
  ``luca schools create`` adds each school's key to its tier's plan, ``luca schools delete`` removes
  it. A request whose school has no key is refused by API Gateway (403, ``INVALID_API_KEY``).

docs/decisions/0006-per-school-throttling.md has the quotas at 2,000 schools.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from luca_infra.aws.constructs.python_function import X_RAY_ONLY
from luca_infra.aws.containers import LOG_RETENTION, SERVICE_LOCK
from luca_infra.aws.nag import acknowledge
from luca_infra.definitions import PlatformDefinition
from luca_platform.school_keys import usage_plan_name

AUTHORIZER_DOCKERFILE = "services/edge/Dockerfile"
# What the image build may see (Docker ignore syntax: exclude all, then re-include): the libraries
# and this service with its lock, no tests. The authorizer needs no generated contracts.
AUTHORIZER_CONTEXT_ALLOWLIST = (
    "*",
    "!libs/kernel",
    "!libs/platform",
    "!services/edge",
    "libs/kernel/tests",
    "libs/platform/tests",
    "services/edge/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
)
IDENTITY_HEADER = "Authorization"


def authorizer_image(repo_root: Path, dockerfile: str, allowlist: Sequence[str]) -> lambda_.DockerImageCode:
    """The image asset, built at deploy time (never at synth) from an allowlisted copy of the root."""
    lock = Path(dockerfile).with_name(SERVICE_LOCK)
    for required in (Path(dockerfile), lock):
        if not (repo_root / required).is_file():
            raise FileNotFoundError(f"no {required.as_posix()} under the repository root; run `make lock`")
    return lambda_.DockerImageCode.from_image_asset(
        str(repo_root),
        file=dockerfile,
        exclude=list(allowlist),
        ignore_mode=cdk.IgnoreMode.DOCKER,
        # The images are built where the services' are, without emulating another architecture.
        platform=ecr_assets.Platform.LINUX_AMD64,
    )


class EdgeAuthorizer(Construct):
    """``function``, its ``log_group`` and the API's ``authorizer``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: PlatformDefinition,
        user_pool: cognito.IUserPool,
        user_pool_client: cognito.IUserPoolClient,
        repo_root: Path,
    ) -> None:
        super().__init__(scope, construct_id)
        spec = definition.authorizer
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Edge authorizer: writes its logs and traces; reads nothing (the key set is public)",
        )
        acknowledge(role, "IAM5[Resource::*]", X_RAY_ONLY)
        self.log_group = logs.LogGroup(self, "Logs", log_group_name=spec.log_group, retention=LOG_RETENTION)
        self.log_group.grant_write(role)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            function_name=spec.function_name,
            description="API Gateway's authorizer: verifies the ID token, names the school's usage-plan key",
            code=authorizer_image(repo_root, AUTHORIZER_DOCKERFILE, AUTHORIZER_CONTEXT_ALLOWLIST),
            architecture=lambda_.Architecture.X86_64,
            memory_size=spec.memory_mib,
            timeout=cdk.Duration.seconds(spec.timeout_seconds),
            role=role,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={
                "LUCA_USER_POOL_ID": user_pool.user_pool_id,
                "LUCA_USER_POOL_CLIENT_ID": user_pool_client.user_pool_client_id,
                "LUCA_SCHOOL_CLAIM": definition.user_pool.school_claim,
                "LUCA_STUDENT_CLAIM": definition.user_pool.student_claim,
                "POWERTOOLS_SERVICE_NAME": spec.function_name,
            },
        )
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        # As for every function here: CDK adds the role to DependsOn, which the GetAtt already implies.
        cfn_function.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=self.function,
            identity_sources=[apigw.IdentitySource.header(IDENTITY_HEADER)],
            results_cache_ttl=cdk.Duration.seconds(spec.cache_seconds),
        )


def tier_usage_plans(api: apigw.RestApi, definition: PlatformDefinition) -> dict[str, apigw.UsagePlan]:
    """One usage plan per tier on the API's stage: its throttle applies to each key (school) apart."""
    plans: dict[str, apigw.UsagePlan] = {}
    for tier in definition.throttling.tiers:
        students = f"up to {tier.max_students}" if tier.max_students is not None else "any number of"
        plans[tier.name] = api.add_usage_plan(
            f"Tier{tier.name.capitalize()}",
            name=usage_plan_name(tier.name),
            description=f"Schools of {students} students: each school's key gets {tier.rate:g}/s, burst {tier.burst}",
            throttle=apigw.ThrottleSettings(rate_limit=tier.rate, burst_limit=tier.burst),
            api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
    return plans
