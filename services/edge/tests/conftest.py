from __future__ import annotations

import pytest

from luca_edge.bootstrap import build
from luca_edge.config import EdgeSettings
from luca_edge.service_layer.authorize import Authorizer
from luca_platform.tokens import CognitoSettings, CognitoTokenVerifier
from luca_testing.emulator import REGION
from luca_testing.tokens import CLIENT_ID, POOL_ID, StaticJWKClient, TokenMint

SETTINGS = EdgeSettings(aws_region=REGION, user_pool_id=POOL_ID, user_pool_client_id=CLIENT_ID)


@pytest.fixture(scope="session")
def mint() -> TokenMint:
    return TokenMint()


@pytest.fixture
def jwks(mint: TokenMint) -> StaticJWKClient:
    return StaticJWKClient(mint.jwks)


@pytest.fixture
def authorizer(jwks: StaticJWKClient) -> Authorizer:
    verifier = CognitoTokenVerifier(CognitoSettings(REGION, POOL_ID, CLIENT_ID), jwks=jwks)
    return build(SETTINGS, verifier=verifier)
