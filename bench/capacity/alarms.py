"""Decision 0012's figures: four ways to watch each school's interactive latency, priced per month.

Pure arithmetic on the scenario, the price file and what the deployment emits (the grading service's
custom metric series per school, read from its EMF line by ``measure``). A school's series bill only
for the hours they receive data (CloudWatch prorates custom metrics by the hour): its school days
at the model's school-day hours, a lower bound if teachers also work in the evening.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.capacity.scenario import Scenario
from luca_infra.aws.school_alarm import SCHOOL_ALARMS_IN_STACK

# Documented CloudWatch limits of a Metrics Insights query alarm.
INSIGHTS_SERIES_PER_QUERY = 500  # beyond, the alarm evaluates PARTIAL_DATA
INSIGHTS_ALARMS_PER_REGION = 200
INSIGHTS_CONTRIBUTORS_IN_ALARM = 100


def alarm_options(
    dep: Mapping[str, Any],
    s: Scenario,
    prices: Mapping[str, Any],
    *,
    interactive_requests: float,
    hours_per_month: float,
    school_day_hours: float,
) -> list[dict[str, Any]]:
    cw = prices["cloudwatch"]
    n = s.schools
    active_share = min(1.0, s.school_days_per_month * school_day_hours / hours_per_month)
    deployed = int(dep["per_school_metric_series"])

    def metrics(series: int) -> float:
        return n * series * active_share * cw["custom_metric_month"]

    standard = cw["alarm_standard_month"]
    # The all-schools p95 alarm (one standard alarm) is in every option but the last.
    in_stack = f"none (the CDK stack holds {SCHOOL_ALARMS_IN_STACK}; onboarding creates the rest)"
    options = [
        _option(
            "a standard p95 alarm per school, count and latency series",
            alarms=n + 1,
            alarms_usd=(n + 1) * standard,
            series=2 * n,
            metrics_usd=metrics(2),
            statistic="p95, exact",
            names="the school and the command to run",
            limits=in_stack,
            deployed=deployed == 2,
        ),
        # A school's request count is its latency series' SampleCount: one series is enough.
        _option(
            "a standard p95 alarm per school, latency series only",
            alarms=n + 1,
            alarms_usd=(n + 1) * standard,
            series=n,
            metrics_usd=metrics(1),
            statistic="p95, exact",
            names="the school and the command to run",
            limits=in_stack,
            deployed=deployed == 1,
        ),
    ]
    shards = math.ceil(n / INSIGHTS_SERIES_PER_QUERY)
    options.append(
        _option(
            "Metrics Insights query alarms",
            alarms=shards,
            alarms_usd=n * cw["alarm_metrics_insights_per_metric_month"] + standard,
            series=n,
            metrics_usd=metrics(1),
            statistic="AVG or MAX a minute, no percentile",
            names=f"up to {INSIGHTS_CONTRIBUTORS_IN_ALARM} schools as contributors, no command",
            limits=f"{shards} of {INSIGHTS_ALARMS_PER_REGION} a region ({INSIGHTS_SERIES_PER_QUERY} series each)",
        )
    )
    # One rule over the grading service's log lines keyed by school; every interactive request
    # matching is the upper bound (a filter on slow requests matches far fewer). No series at all.
    matched = interactive_requests
    options.append(
        _option(
            "a Contributor Insights rule + 1 alarm",
            alarms=1,
            alarms_usd=standard,
            series=0,
            metrics_usd=0.0,
            rules_usd=cw["contributor_insights_rule_month"]
            + matched / 1e6 * cw["contributor_insights_matched_events_per_million"],
            statistic="slow requests a minute, top school",
            names="no school: the rule's report does",
            limits="none",
        )
    )
    return options


def _option(name: str, *, alarms: int, alarms_usd: float, series: int, metrics_usd: float, statistic: str,
            names: str, limits: str, rules_usd: float = 0.0, deployed: bool = False) -> dict[str, Any]:  # fmt: skip
    return {
        "option": name,
        "deployed": deployed,
        "alarms": alarms,
        "per_school_series": series,
        "alarms_usd": round(alarms_usd, 2),
        "metrics_usd": round(metrics_usd, 2),
        "rules_usd": round(rules_usd, 2),
        "total_usd": round(alarms_usd + metrics_usd + rules_usd, 2),
        "statistic": statistic,
        "alarm_names": names,
        "limits": limits,
    }
