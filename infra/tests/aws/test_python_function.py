"""The functions' OpenTelemetry layer is the deployment's choice (``luca:adotLayerArn``).

GIVEN a stack with one bundled function
WHEN  the app is given an ADOT layer ARN, none, or a malformed one
THEN  the function carries that layer and the layer's wrapper, carries neither, or synthesis fails
      naming the context key; active tracing is on in every case.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from luca_infra.aws.constructs.python_function import (
    ADOT_EXEC_WRAPPER,
    ADOT_LAYER_CONTEXT,
    BundledPythonFunction,
)
from luca_infra.aws.deploy_context import read_operations_context

pytestmark = pytest.mark.infra

LAYER = "arn:aws:lambda:eu-west-1:901920570463:layer:aws-otel-python-amd64-ver-1-29-0:2"


def _function(tmp_path: Path, context: dict[str, Any]) -> dict[str, Any]:
    bundle = tmp_path / "f.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    app = cdk.App(context=context)
    stack = cdk.Stack(app, "Functions", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    BundledPythonFunction(
        stack,
        "Processor",
        code=lambda_.Code.from_asset(str(bundle)),
        function_name="grade-processor",
        description="test",
        handler="handler.handler",
        runtime="python3.11",
        architecture="arm64",
        timeout=cdk.Duration.seconds(10),
        memory_mib=256,
        environment={"LUCA_TABLE_NAME": "luca"},
    )
    template = Template.from_stack(stack).to_json()
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    properties: dict[str, Any] = function["Properties"]
    return properties


def test_an_adot_layer_given_at_deploy_wraps_every_function(tmp_path: Path) -> None:
    function = _function(tmp_path, {ADOT_LAYER_CONTEXT: LAYER})
    assert function["Layers"] == [LAYER]
    assert function["Environment"]["Variables"] == {
        "LUCA_TABLE_NAME": "luca",
        "AWS_LAMBDA_EXEC_WRAPPER": ADOT_EXEC_WRAPPER,
    }
    assert function["TracingConfig"] == {"Mode": "Active"}


def test_without_one_the_function_is_traced_by_lambda_alone(tmp_path: Path) -> None:
    function = _function(tmp_path, {})
    assert "Layers" not in function
    assert function["Environment"]["Variables"] == {"LUCA_TABLE_NAME": "luca"}
    assert function["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize(
    "value", ["aws-otel-python-amd64-ver-1-29-0", "arn:aws:lambda:eu-west-1:9019:layer:x:1", ["a"]]
)
def test_a_malformed_layer_fails_synthesis_naming_the_key(value: Any) -> None:
    with pytest.raises(ValueError, match=ADOT_LAYER_CONTEXT):
        read_operations_context({ADOT_LAYER_CONTEXT: value}.get)
