"""A school at the edge: its own API key (``luca_platform.school_keys``) in its tier's usage plan.

The usage plans are one per tier, named ``usage_plan_name(tier)``: the CDK app makes them in AWS, the
local platform in its emulator (``ensure_usage_plans``, from the same ``ThrottlingDefinition``), and
this module finds them by name. A school's key is found by its name; its value is derived, so the
authorizer needs no lookup. ``CreateApiKey`` allows 5 calls a second per account, which one school's
creation never approaches (decision 0006).
"""

from __future__ import annotations

import contextlib
from typing import Any

from luca_infra.definitions import ThrottlingDefinition, TierDefinition
from luca_platform.school_keys import api_key_name, api_key_value, usage_plan_name


class MissingUsagePlan(LookupError):
    """The stage has no usage plan for a tier (not deployed yet)."""


def usage_plan_request(tier: TierDefinition) -> dict[str, Any]:
    """CreateUsagePlan's arguments for ``tier``: its rate and burst as the plan's throttle (per key)."""
    return {
        "name": usage_plan_name(tier.name),
        "description": f"Luca tier {tier.name}: every school's own key gets {tier.rate}/s, burst {tier.burst}",
        "throttle": {"rateLimit": float(tier.rate), "burstLimit": int(tier.burst)},
    }


def ensure_usage_plans(apigateway: Any, throttling: ThrottlingDefinition) -> dict[str, str]:
    """Create the tiers' usage plans that are missing (the local platform's stand-in for the CDK's);
    returns tier -> plan id."""
    plans = _plans(apigateway)
    ids: dict[str, str] = {}
    for tier in throttling.tiers:
        name = usage_plan_name(tier.name)
        ids[tier.name] = plans.get(name) or str(
            apigateway.create_usage_plan(**usage_plan_request(tier))["id"]
        )
    return ids


def _plans(apigateway: Any) -> dict[str, str]:
    """Every usage plan by name -> id."""
    found: dict[str, str] = {}
    for page in apigateway.get_paginator("get_usage_plans").paginate():
        for plan in page.get("items", []):
            found[str(plan["name"])] = str(plan["id"])
    return found


class SchoolEdge:
    def __init__(self, apigateway: Any, throttling: ThrottlingDefinition) -> None:
        self._apigateway, self._throttling = apigateway, throttling

    def key_id(self, school_id: str) -> str | None:
        name = api_key_name(school_id)
        pages = self._apigateway.get_paginator("get_api_keys").paginate(nameQuery=name, includeValues=False)
        for page in pages:
            for key in page.get("items", []):
                if key.get("name") == name:  # nameQuery matches prefixes: school a is not school ab
                    return str(key["id"])
        return None

    def ensure_key(self, school_id: str, tier: str) -> tuple[str, bool]:
        """The school's key, in ``tier``'s plan (created when missing); whether this call created it."""
        name = usage_plan_name(self._throttling.tier(tier).name)
        plan = _plans(self._apigateway).get(name)
        if plan is None:
            raise MissingUsagePlan(
                f"no usage plan {name!r} on this stage: deploy the edge's usage plans first"
            )
        key = self.key_id(school_id)
        created = key is None
        if key is None:
            key = str(
                self._apigateway.create_api_key(
                    name=api_key_name(school_id),
                    value=api_key_value(school_id),
                    enabled=True,
                    description=f"Luca school {school_id}: its own bucket in its tier's usage plan",
                )["id"]
            )
        # Already in the plan: a rerun.
        with contextlib.suppress(self._apigateway.exceptions.ConflictException):
            self._apigateway.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
        return key, created

    def tier_of(self, school_id: str) -> str | None:
        """The tier whose usage plan holds the school's key, or None (no key, or in no tier's plan)."""
        key = self.key_id(school_id)
        if key is None:
            return None
        plans = _plans(self._apigateway)
        for tier in self._throttling.tiers:
            plan = plans.get(usage_plan_name(tier.name))
            if plan is not None and key in self._plan_keys(plan):
                return tier.name
        return None

    def remove(self, school_id: str) -> bool:
        """Take the school's key out of every tier's plan, then delete it; whether there was one."""
        key = self.key_id(school_id)
        if key is None:
            return False
        plans = _plans(self._apigateway)
        for tier in self._throttling.tiers:
            plan = plans.get(usage_plan_name(tier.name))
            if plan is not None and key in self._plan_keys(plan):
                self._apigateway.delete_usage_plan_key(usagePlanId=plan, keyId=key)
        self._apigateway.delete_api_key(apiKey=key)
        return True

    def _plan_keys(self, plan: str) -> set[str]:
        pages = self._apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan)
        return {str(key["id"]) for page in pages for key in page.get("items", [])}
