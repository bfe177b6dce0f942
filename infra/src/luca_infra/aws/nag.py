"""cdk-nag (AwsSolutions) for the whole app, and the one way we acknowledge a finding.

cdk-nag 3 is a CDK validation plugin: ``app.synth()`` fails when any finding is neither fixed nor
acknowledged, and the report lands in ``validation-report.json`` in the cloud assembly. An
acknowledgement always names one finding (``RuleId`` or ``RuleId[Finding]``) on the narrowest
construct that has it, and always carries a reason a reviewer can check.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def enable_checks(app: cdk.App) -> None:
    # write_suppressions_to_cloud_formation: the reasons also travel in each template's Metadata,
    # so an auditor reading the deployed template sees why a rule does not apply.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding on ``scope`` (and what it contains), with a reason."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))
