"""Who the users are: the Cognito user pool, its groups and the teachers' app client.

``custom:school_id`` (and ``custom:student_id``) are immutable and not writable by any app client:
a user's school is set once, by an admin, and everything downstream (the authorizer, the service,
the tenant role's session tag) trusts it because nobody else can change it.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from luca_infra.aws.nag import acknowledge
from luca_infra.definitions import ServiceIdentityDefinition, UserPoolDefinition

_AUTH_FLOW_OPTIONS = {
    "ALLOW_USER_SRP_AUTH": "user_srp",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH": "admin_user_password",
    "ALLOW_USER_PASSWORD_AUTH": "user_password",
    "ALLOW_CUSTOM_AUTH": "custom",
    "ALLOW_USER_AUTH": "user",
}


def auth_flows(flows: tuple[str, ...]) -> cognito.AuthFlow:
    """The definition's explicit auth flows as CDK's AuthFlow (refresh tokens are always allowed)."""
    unknown = set(flows) - set(_AUTH_FLOW_OPTIONS) - {"ALLOW_REFRESH_TOKEN_AUTH"}
    if unknown:
        raise ValueError(f"auth flows without a CDK mapping: {sorted(unknown)}")
    return cognito.AuthFlow(
        **{_AUTH_FLOW_OPTIONS[flow]: True for flow in flows if flow in _AUTH_FLOW_OPTIONS}
    )


class UserDirectory(Construct):
    """The user pool (PLUS plan, threat protection), its groups and the app client."""

    def __init__(self, scope: Construct, construct_id: str, *, definition: UserPoolDefinition) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=definition.name,
            # Schools create their users; nobody signs up, so nobody picks their own school.
            self_sign_up_enabled=False,
            custom_attributes={
                definition.school_attribute: cognito.StringAttribute(mutable=False),
                definition.student_attribute: cognito.StringAttribute(mutable=False),
            },
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=cdk.Duration.days(3),
            ),
            # Optional TOTP MFA plus threat protection's adaptive authentication, which asks for
            # the second factor when a sign-in looks risky (see the COG2 acknowledgement).
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # Adaptive authentication: what threat protection does with a risky sign-in (every client).
        risk = cognito.CfnUserPoolRiskConfigurationAttachment
        risk(
            self,
            "RiskResponse",
            user_pool_id=self.user_pool.user_pool_id,
            client_id="ALL",
            account_takeover_risk_configuration=risk.AccountTakeoverRiskConfigurationTypeProperty(
                actions=risk.AccountTakeoverActionsTypeProperty(
                    low_action=risk.AccountTakeoverActionTypeProperty(event_action="NO_ACTION", notify=False),
                    medium_action=risk.AccountTakeoverActionTypeProperty(
                        event_action="MFA_IF_CONFIGURED", notify=False
                    ),
                    high_action=risk.AccountTakeoverActionTypeProperty(
                        event_action="MFA_REQUIRED", notify=False
                    ),
                )
            ),
            compromised_credentials_risk_configuration=risk.CompromisedCredentialsRiskConfigurationTypeProperty(
                actions=risk.CompromisedCredentialsActionsTypeProperty(event_action="BLOCK")
            ),
        )
        acknowledge(
            self.user_pool,
            "COG2",
            "MFA is optional on purpose: students include young children on shared school devices, "
            "for whom a mandatory second factor would lock them out. Threat protection runs in "
            "FULL_FUNCTION mode (PLUS plan): medium-risk sign-ins need the second factor when the user "
            "has one, high-risk ones always do, and sign-ins with compromised credentials are blocked.",
        )
        self.groups = {
            group: cognito.CfnUserPoolGroup(
                self, f"Group-{group}", user_pool_id=self.user_pool.user_pool_id, group_name=group
            )
            for group in definition.groups
        }
        custom_attributes = (definition.school_attribute, definition.student_attribute)
        self.client = self.user_pool.add_client(
            "AppClient",
            user_pool_client_name=definition.client_name,
            generate_secret=False,  # public clients (apps) cannot keep a secret
            auth_flows=auth_flows(definition.auth_flows),
            # Readable, never writable: the custom attributes appear only in read_attributes. The
            # standard ones match what the local platform's provisioner grants.
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True, fullname=True)
            .with_custom_attributes(*custom_attributes),
            write_attributes=cognito.ClientAttributes().with_standard_attributes(email=True, fullname=True),
            id_token_validity=cdk.Duration.minutes(definition.id_token_validity_minutes),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
        )


class ServiceIdentityKey(Construct):
    """The asymmetric KMS key behind internal service-identity tokens (see the grading README).

    Verifiers get ``kms:GetPublicKey``; signers (internal callers acting for one school) get
    ``kms:Sign``. Nothing else may use it, and its private half never leaves KMS.
    """

    def __init__(self, scope: Construct, construct_id: str, *, definition: ServiceIdentityDefinition) -> None:
        super().__init__(scope, construct_id)
        self.definition = definition
        self.key = kms.Key(
            self,
            "Key",
            key_spec=kms.KeySpec(definition.key_spec),
            key_usage=kms.KeyUsage(definition.key_usage),
            description=definition.description,
            alias=definition.alias,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def grant_verify(self, grantee: iam.IGrantable) -> iam.Grant:
        return self.key.grant(grantee, *self.definition.verify_actions)

    def grant_sign(self, grantee: iam.IGrantable) -> iam.Grant:
        return self.key.grant(grantee, *self.definition.sign_actions)


class IdentityStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: UserPoolDefinition,
        service_identity: ServiceIdentityDefinition,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        directory = UserDirectory(self, "Users", definition=definition)
        self.user_pool = directory.user_pool
        self.client = directory.client
        self.service_identity = ServiceIdentityKey(self, "ServiceIdentity", definition=service_identity)
