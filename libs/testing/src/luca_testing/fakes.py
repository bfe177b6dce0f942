"""Fakes of the ports several services share: who the caller is, and the school's grading rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from luca_kernel.access import Principal
from luca_kernel.errors import Unauthenticated
from luca_kernel.grading import GradingRule, default_rule
from luca_kernel.ids import SubjectId


@dataclass
class TokenAuthenticator:
    """``Authorization: Bearer <name>`` where ``name`` is a key of ``tokens``; anything else is refused
    as the real authenticator refuses it (``Unauthenticated``)."""

    tokens: Mapping[str, Principal]

    def cached(self, authorization: str | None) -> Principal | None:
        # Nothing is remembered: every request goes through ``authenticate``.
        return None

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise Unauthenticated("invalid token")
        return self.tokens[token]


@dataclass
class FixedRules:
    """The rule in force per (school, subject), else the platform default; records what was asked."""

    rules: dict[tuple[str, str], GradingRule] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def rule_for(self, school_id: str, subject_id: str) -> GradingRule:
        self.asked.append((school_id, subject_id))
        return self.rules.get((school_id, subject_id)) or default_rule(SubjectId(subject_id))
