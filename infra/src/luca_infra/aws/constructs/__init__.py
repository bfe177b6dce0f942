"""The CDK shapes Luca's stacks repeat, as constructs with keyword-only props.

- ``BundledPythonFunction``: a Python Lambda function from a bundle zip, with its log group and role
  (the ingest, government sync and analytics stacks).
- ``LoadBalancedFargateService``: a Fargate service behind the shared internal ALB, with its task
  role, task definition, tracing sidecar, target groups and listener rules (the grading, government
  sync API and analytics API stacks), given the ``SharedFront`` of ``LucaNetwork``.
"""

from luca_infra.aws.constructs.fargate_service import (
    Listener,
    LoadBalancedFargateService,
    Route,
    SharedFront,
)
from luca_infra.aws.constructs.python_function import (
    ARCHITECTURES,
    BundledPythonFunction,
    require_bundle,
)

__all__ = [
    "ARCHITECTURES",
    "BundledPythonFunction",
    "Listener",
    "LoadBalancedFargateService",
    "Route",
    "SharedFront",
    "require_bundle",
]
