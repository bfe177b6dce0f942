"""The value of a school's API key at the edge, derived from the school's id.

API Gateway's usage plans throttle per API key. The edge's authorizer names the key of the caller's
school (``usageIdentifierKey``, API key source ``AUTHORIZER``); onboarding creates that key in the
school's tier's usage plan. Both compute the value here, so the authorizer needs no lookup.

The value is an identifier for the usage plan, not a credential: with the key source ``AUTHORIZER``
API Gateway ignores any ``X-API-Key`` a client sends, and only the authorizer, after verifying the
caller's token, can name a key.
"""

from __future__ import annotations

import hashlib

# API Gateway wants at least 20 characters; the prefix keeps the key readable in the console.
_PREFIX = "luca-school-"
_NAME_PREFIX = "luca-school-"


def api_key_value(school_id: str) -> str:
    """The key value for a school: stable, at least 20 characters, and never the bare school id."""
    if not school_id:
        raise ValueError("a school id is required")
    digest = hashlib.sha256(f"luca-edge-key:{school_id}".encode()).hexdigest()
    return f"{_PREFIX}{digest[:40]}"


def api_key_name(school_id: str) -> str:
    """The key's name (what operators see in the console and the tools search for)."""
    if not school_id:
        raise ValueError("a school id is required")
    return f"{_NAME_PREFIX}{school_id}"


def usage_plan_name(tier: str) -> str:
    """The usage plan of a tier (``ThrottlingDefinition.tiers``)."""
    if not tier:
        raise ValueError("a tier name is required")
    return f"luca-tier-{tier}"
