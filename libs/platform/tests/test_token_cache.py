"""The verified-token cache: only the very token verified, only until its own expiry."""

from __future__ import annotations

import time

import pytest

from luca_kernel.errors import Unauthenticated
from luca_platform.token_cache import VerifiedTokens
from luca_platform.tokens import Authenticator, CognitoSettings, CognitoTokenVerifier
from luca_testing.tokens import CLIENT_ID, POOL_ID, REGION, StaticJWKClient, TokenMint


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class CountingVerifier(CognitoTokenVerifier):
    def __init__(self, mint: TokenMint) -> None:
        super().__init__(CognitoSettings(REGION, POOL_ID, CLIENT_ID), jwks=StaticJWKClient(mint.jwks))
        self.checks = 0

    def verify(self, token: str):  # type: ignore[no-untyped-def]
        self.checks += 1
        return super().verify(token)


def authenticator(mint: TokenMint, clock: Clock, size: int = 10) -> tuple[Authenticator, CountingVerifier]:
    users = CountingVerifier(mint)
    return Authenticator(
        users=users, services=None, verified=VerifiedTokens(max_entries=size, clock=clock)
    ), users


def test_a_verified_token_is_served_from_memory_until_it_expires() -> None:
    mint, clock = TokenMint(), Clock()
    auth, users = authenticator(mint, clock)
    token = mint.token("school-a", ["teachers"], username="t-1")

    first = auth.authenticate(f"Bearer {token}")
    again = auth.authenticate(f"Bearer {token}")

    assert again == first
    assert users.checks == 1
    assert auth.cached(f"Bearer {token}") == first
    clock.now += 3600  # the token's own exp: never served from memory from here on
    assert auth.cached(f"Bearer {token}") is None
    auth.authenticate(f"Bearer {token}")
    assert users.checks == 2  # past the cached expiry the full check runs again and decides


def test_another_token_is_never_answered_with_a_cached_principal() -> None:
    mint, clock = TokenMint(), Clock()
    auth, users = authenticator(mint, clock)
    ours = mint.token("school-a", ["teachers"], username="t-1")
    theirs = mint.token("school-b", ["admins"], username="a-1")
    forged = ours[:-4] + ("AAAA" if not ours.endswith("AAAA") else "BBBB")

    assert auth.authenticate(f"Bearer {ours}").school_id == "school-a"
    assert auth.authenticate(f"Bearer {theirs}").school_id == "school-b"
    assert auth.cached(f"Bearer {forged}") is None
    with pytest.raises(Unauthenticated):
        auth.authenticate(f"Bearer {forged}")
    assert users.checks == 3


def test_a_token_accepted_only_within_the_leeway_is_not_cached_and_the_cache_is_bounded() -> None:
    mint, clock = TokenMint(), Clock()
    auth, users = authenticator(mint, clock, size=2)
    late = mint.token("school-a", ["teachers"], exp=int(clock.now) - 5)  # within the 30 s leeway
    auth.authenticate(f"Bearer {late}")
    auth.authenticate(f"Bearer {late}")
    assert users.checks == 2

    tokens = [mint.token("school-a", ["teachers"], username=f"t-{n}") for n in range(3)]
    for token in tokens:
        auth.authenticate(f"Bearer {token}")
    assert auth.cached(f"Bearer {tokens[0]}") is None  # the oldest made room
    assert auth.cached(f"Bearer {tokens[2]}") is not None
