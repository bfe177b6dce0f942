"""Rich tables of the measured operations and of a modelled scenario."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(width=160)


def print_operations(measured: dict[str, Any]) -> None:
    table = Table(title="Per operation, measured on the local platform (units from the items' sizes)")
    for column in (
        "operation",
        "per",
        "store calls",
        "RRU",
        "WRU",
        "index WRU",
        "bytes read",
        "bytes written",
        "emulator units",
    ):
        table.add_column(column, justify="left" if column in ("operation", "per") else "right")
    for name, op in measured["operations"].items():
        reported = op.get("emulator_reported_units")
        table.add_row(
            name, op["per"], f"{op['store_calls']:.2f}", f"{op['rru']:.2f}", f"{op['wru']:.2f}", f"{op['index_wru']:.2f}",
            f"{op['bytes_read']:.0f}", f"{op['bytes_written']:.0f}", "-" if reported is None else f"{reported:.2f}",
        )  # fmt: skip
    console.print(table)
    lake, sync, burst, cpu = measured["lake"], measured["sync"], measured["burst"], measured["grading_cpu"]
    console.print(
        f"lake record: {lake['json_bytes_per_row']:.0f} B of JSON into Firehose, "
        f"{lake['parquet_bytes_per_row_one_file']:.0f} B of Parquet per row in one file a partition "
        f"({lake['parquet_bytes_per_row_local_files']:.0f} B in the local 5 s files); "
        + ", ".join(f"{name.removeprefix('report: ')} scans {r['bytes_scanned']} B in {r['files']} files" for name, r in lake["reports"].items())
    )  # fmt: skip
    console.print(
        f"sync: {sync['grades']} grades in {sync['batches']} batches, {sync['state_transitions']} state transitions; "
        f"burst: {burst['events_per_batch']} events a batch in {burst['duration_ms_mean']:.0f} ms "
        f"({burst['cpu_ms_mean']:.0f} ms CPU) on the emulator, peak heap {burst['peak_python_heap_mib']} MiB, "
        f"{burst['message_bytes_mean']:.0f} B a message"
    )
    console.print(
        f"grading service on one core, in-memory store, telemetry on: {cpu['cpu_ms_per_request']:.2f} ms CPU a request, "
        f"{cpu['requests_per_second_per_vcpu']:.0f} requests/s per vCPU (mix {cpu['mix']})"
    )
    console.print(
        "Lambda cold start (import): "
        + ", ".join(
            f"{name} {c['wall_ms']:.0f} ms ({c['peak_rss_mib']:.0f} MiB)"
            for name, c in measured["lambda_cold_start"].items()
        )
    )


def print_scenario(result: dict[str, Any]) -> None:
    scenario = result["scenario"]
    table = Table(
        title=f"{scenario['name']}: {scenario['schools']} schools, monthly (prices: {result['prices']})"
    )
    for column in ("service", "usage", "USD / month", "USD / school"):
        table.add_column(column, justify="left" if column in ("service", "usage") else "right")
    for service, line in result["services"].items():
        table.add_row(
            service, line["usage"], f"{line['usd']:,.2f}", f"{line['usd'] / scenario['schools']:,.3f}"
        )
    table.add_row(
        "total", "", f"{result['total_usd']:,.2f}", f"{result['per_school_usd']:,.3f}", style="bold"
    )
    console.print(table)
    sizing = result["sizing"]
    console.print(
        f"  Fargate: {sizing['fargate_tasks']} grading tasks for a peak of {sizing['interactive_peak_rps']:.0f} req/s; "
        f"Lambda concurrency at recess {sizing['lambda_concurrency_recess']:.1f} "
        f"(cap {sizing['lambda_concurrency_cap']}); hottest school {sizing['hottest_school_wcu_per_s']:.0f} WCU/s "
        f"({sizing['partition_write_heat']:.1%} of 1,000) and {sizing['hottest_school_rcu_per_s']:.0f} RCU/s "
        f"({sizing['partition_read_heat']:.1%} of 3,000); Firehose active partitions {sizing['firehose_active_partitions']} "
        f"of {sizing['firehose_partition_quota']}"
    )
