"""A Python Lambda function deployed from a bundle zip, with its log group and (unless given) its role.

The ingest, government sync and analytics stacks all deploy functions this way: code from the zip
``make bundle`` writes (``luca_infra.bundle``), the definition's Python runtime and architecture,
active X-Ray tracing, a log group of its own with a retention, and the role allowed to write to it.

- The runtime is the definition's Python, which cdk-nag's L1 ("not the latest runtime") reports;
  every function acknowledges it with the same reason.
- A function given no role gets one of its own (Lambda may assume it; nothing else is granted here).
  Its only wildcard is the X-Ray write actions active tracing adds, acknowledged here; a role shared
  by several functions is the caller's, and so is that acknowledgement.
- With the context value ``luca:adotLayerArn`` (an AWS Distro for OpenTelemetry Python layer of the
  stage's region), every function gets that layer and ``AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument``:
  the layer brings the OpenTelemetry SDK and exporter the handlers' API calls need to become X-Ray
  subsegments. It is the operator's choice of layer version, not ours: the layer's SDK must accept the
  OpenTelemetry API the bundle ships (the bundles' ``requires``), and that can only be tried on AWS.
  Without it, active tracing still records each invocation in the sender's trace.
- The function is this construct's ``Default`` child, so its logical id is the construct's: a stack
  that wraps an existing function in this construct keeps the function (a named one could not be
  replaced in place).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from luca_infra.aws.nag import acknowledge

ADOT_LAYER_CONTEXT = "luca:adotLayerArn"
ADOT_EXEC_WRAPPER = "/opt/otel-instrument"
ADOT_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$")
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
X_RAY_ONLY = (
    "Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing), which support no "
    "resource-level permissions. Write-only telemetry, no data access."
)


def require_bundle(path: Path, *, what: str, service: str) -> Path:
    """``path`` if it is a zip; otherwise an error that says how to build it (checked before synth)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} bundle {path} does not exist: run `make bundle` "
            f"(python -m luca_infra.bundle {service}) before synthesizing the CDK app"
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a zip file: rebuild it with `make bundle`")
    return path


def adot_layer_arn(value: object) -> str:
    """The ``luca:adotLayerArn`` context value, checked; empty when it is not set."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not ADOT_LAYER_ARN.match(value):
        raise ValueError(
            f"{ADOT_LAYER_CONTEXT} must be a Lambda layer version ARN "
            f"(arn:aws:lambda:<region>:<account>:layer:<name>:<version>), got {value!r}"
        )
    return value


def python_runtime(name: str) -> lambda_.Runtime:
    if not name.startswith("python"):
        raise ValueError(f"Luca's functions are Python; {name!r} is not a Python runtime")
    return lambda_.Runtime(name, lambda_.RuntimeFamily.PYTHON)


class BundledPythonFunction(Construct):
    """One function from a bundle: ``function``, ``role`` and ``log_group``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        function_name: str,
        description: str,
        handler: str,
        runtime: str,
        architecture: str,
        timeout: cdk.Duration,
        memory_mib: int,
        environment: Mapping[str, str],
        role: iam.IRole | None = None,
        role_name: str | None = None,
        role_description: str | None = None,
        log_retention: logs.RetentionDays = LOG_RETENTION,
        log_group_name: str | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        retry_attempts: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if role is not None and (role_name or role_description):
            raise ValueError("name and describe the role where it is created, not for a given role")
        if role is None:
            own_role = iam.Role(
                self,
                "Role",
                role_name=role_name,
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=role_description or description,
            )
            acknowledge(own_role, "IAM5[Resource::*]", X_RAY_ONLY)
            role = own_role
        self.role = role
        # A name only where a runbook or the stage's resources document refers to the group.
        self.log_group = logs.LogGroup(self, "Logs", log_group_name=log_group_name, retention=log_retention)
        self.log_group.grant_write(role)
        environment = dict(environment)
        layers: list[lambda_.ILayerVersion] = []
        adot_layer = adot_layer_arn(self.node.try_get_context(ADOT_LAYER_CONTEXT))
        if adot_layer:
            layers.append(lambda_.LayerVersion.from_layer_version_arn(self, "Adot", adot_layer))
            environment["AWS_LAMBDA_EXEC_WRAPPER"] = ADOT_EXEC_WRAPPER
        self.function = lambda_.Function(
            self,
            "Default",
            function_name=function_name,
            description=description,
            runtime=python_runtime(runtime),
            architecture=ARCHITECTURES[architecture],
            handler=handler,
            code=code,
            timeout=timeout,
            memory_size=memory_mib,
            role=role,
            environment=environment,
            layers=layers or None,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=retry_attempts,
        )
        # CDK's Function always adds its role to DependsOn, which the Role GetAtt already implies;
        # cfn-lint reports the redundancy (W3005). Harmless, and not ours to remove.
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        acknowledge(
            self.function,
            "L1",
            f"The runtime is the definition's {runtime}: the workspace is pinned to that Python "
            "(requires-python) and the bundle builder refuses to build for any other, so the function "
            "runs the interpreter its code and dependencies were resolved and tested with.",
        )
