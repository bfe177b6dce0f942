"""Decision 0013's figures: the grading service's Fargate task size, compared at a scenario's peak.

For each size: tasks the interactive peak needs at the scenario's utilisation target (at least the
deployed minimum), their monthly cost (the minimum all month, the rest in the school-day hours), the
CPU a request takes at the task's share, and what one AZ's tasks carry when the other AZ is lost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.capacity.scenario import Scenario

# Each size with its smallest valid memory (AWS Fargate's task CPU and memory combinations, Linux):
# 0.25 vCPU takes 0.5-2 GB, 0.5 vCPU 1-4 GB, 1 vCPU 2-8 GB, 2 vCPU 4-16 GB.
SIZES: tuple[tuple[float, float], ...] = ((0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0))
# The service is one Python process (REST and gRPC in one interpreter): it cannot use more than one
# vCPU, whatever the task has.
PROCESS_VCPU = 1.0


def fargate_sizes(
    measured: Mapping[str, Any],
    s: Scenario,
    prices: Mapping[str, Any],
    *,
    peak_rps: float,
    hours_per_month: float,
    school_day_hours: float,
) -> list[dict[str, Any]]:
    dep, cpu = measured["deployment"], measured["grading_cpu"]
    per_vcpu = cpu["requests_per_second_per_vcpu"]
    minimum = max(int(dep["grading_min_tasks"]), int(dep["availability_zones"]))
    azs = int(dep["availability_zones"])
    fg = prices["fargate"]
    rows = []
    for vcpu, memory_gib in SIZES:
        usable = min(vcpu, PROCESS_VCPU)
        per_task = per_vcpu * s.fargate_utilisation_target * usable
        tasks = max(minimum, math.ceil(peak_rps / per_task))
        hours = minimum * hours_per_month + (tasks - minimum) * s.school_days_per_month * school_day_hours
        usd = hours * (vcpu * fg["vcpu_hour"] + memory_gib * fg["gb_hour"])
        # Tasks are spread evenly over the AZs: losing one leaves the others' share of the peak's tasks.
        survivors = max(1, tasks - math.ceil(tasks / azs))
        rows.append(
            {
                "vcpu": vcpu,
                "memory_gib": memory_gib,
                "deployed": vcpu == dep["grading_task_vcpu"] and memory_gib == dep["grading_task_memory_gib"],
                "rps_per_task_at_target": round(per_task, 1),
                "tasks_at_peak": tasks,
                "minimum_tasks": minimum,
                "task_hours": round(hours, 1),
                "usd": round(usd, 2),
                "cpu_ms_per_request_at_share": round(cpu["cpu_ms_per_request"] / usable, 2),
                "one_az_lost_cpu": round(peak_rps / (survivors * per_vcpu * usable), 3),
                # The schools this size's minimum carries at the target, and with one AZ lost at 100%
                # CPU, scaling the scenario's peak linearly with its schools.
                "schools_on_minimum": math.floor(minimum * per_task / peak_rps * s.schools)
                if peak_rps
                else 0,
                "schools_one_az_lost": (
                    math.floor(
                        (minimum - math.ceil(minimum / azs)) * per_vcpu * usable / peak_rps * s.schools
                    )
                    if peak_rps
                    else 0
                ),
                "peak_rss_fits": cpu.get("server_peak_rss_mib", 0.0) < memory_gib * 1024,
            }
        )
    return rows
