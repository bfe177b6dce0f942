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
    small = lake["small_files"]
    console.print(
        f"lake files: the school's {small['rows']} rows in {small['files']} files instead of one add "
        f"{small['overhead_bytes_per_file']:,.0f} B and {small['read_ms_per_file']:.3f} ms of DuckDB reading (local disk) a file"
    )
    console.print(
        f"sync: {sync['grades']} grades in {sync['batches']} batches, {sync['state_transitions']} state transitions; "
        f"burst: {burst['events_per_batch']} events a batch in {burst['duration_ms_mean']:.0f} ms "
        f"({burst['cpu_ms_mean']:.0f} ms CPU) on the emulator, peak heap {burst['peak_python_heap_mib']} MiB, "
        f"{burst['message_bytes_mean']:.0f} B a message"
    )
    console.print(
        f"grading service on one core, in-memory store, telemetry on: {cpu['cpu_ms_per_request']:.2f} ms CPU a request, "
        f"{cpu['requests_per_second_per_vcpu']:.0f} requests/s per vCPU (mix {cpu['mix']}), "
        f"peak RSS {cpu.get('server_peak_rss_mib', 0):.0f} MiB"
    )
    console.print(
        "Lambda cold start (import): "
        + ", ".join(
            f"{name} {c['wall_ms']:.0f} ms ({c['peak_rss_mib']:.0f} MiB)"
            for name, c in measured["lambda_cold_start"].items()
        )
    )
    bundled = measured["lambda_cold_start"].get("grade-processor", {}).get("bundle_import")
    if bundled:
        console.print(
            f"grade processor's import from its Lambda bundle: {bundled['wall_ms']:.0f} ms with the zip's bytecode, "
            f"{bundled['without_bytecode_wall_ms']:.0f} ms without (target "
            f"{measured['lambda_cold_start']['grade-processor']['import_target_ms']:.0f} ms)"
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


def print_decisions(result: dict[str, Any]) -> None:
    """The three comparisons decisions 0012, 0013 and 0014 take their figures from."""
    schools = result["scenario"]["schools"]
    decisions = result["decisions"]
    alarms = Table(title=f"0012 per-school latency alarms, {schools} schools (USD / month)")
    for column in ("option", "alarms", "school series", "alarms $", "series $", "rules $", "total $",
                   "statistic", "an alarm names", "limits"):  # fmt: skip
        left = column in ("option", "statistic", "an alarm names", "limits")
        alarms.add_column(column, justify="left" if left else "right")
    for o in decisions["alarms"]:
        alarms.add_row(
            o["option"] + (" (deployed)" if o["deployed"] else ""), f"{o['alarms']:,}", f"{o['per_school_series']:,}",
            f"{o['alarms_usd']:,.2f}", f"{o['metrics_usd']:,.2f}", f"{o['rules_usd']:,.2f}", f"{o['total_usd']:,.2f}",
            o["statistic"], o["alarm_names"], o["limits"],
        )  # fmt: skip
    console.print(alarms)

    sizes = Table(
        title=f"0013 grading task size, {schools} schools: peak {result['sizing']['interactive_peak_rps']:.0f} "
        f"req/s at {result['sizing']['utilisation_target']:.0%} CPU (USD / month)"
    )
    for column in ("vCPU / GB", "req/s a task", "tasks at peak", "minimum", "task-hours", "USD",
                   "CPU ms a request", "one AZ lost: CPU", "schools on the minimum", "...one AZ lost"):  # fmt: skip
        sizes.add_column(column, justify="left" if column == "vCPU / GB" else "right")
    for r in decisions["fargate_sizes"]:
        sizes.add_row(
            f"{r['vcpu']:g} / {r['memory_gib']:g}" + (" (deployed)" if r["deployed"] else ""),
            f"{r['rps_per_task_at_target']:,.0f}", str(r["tasks_at_peak"]), str(r["minimum_tasks"]),
            f"{r['task_hours']:,.0f}", f"{r['usd']:,.2f}", f"{r['cpu_ms_per_request_at_share']:.1f}",
            f"{r['one_az_lost_cpu']:.0%}", f"{r['schools_on_minimum']:,}", f"{r['schools_one_az_lost']:,}",
        )  # fmt: skip
    console.print(sizes)

    lake = decisions["lake_files"]
    console.print(
        f"  0014 lake: a partition (school-month) gets {lake['rows_per_partition_month']:,.0f} rows in "
        f"{lake['files_per_partition_month']:,.0f} files ({lake['files_per_partition_day']:.0f} a school day, "
        f"{lake['rows_per_file']:,.0f} rows, {lake['bytes_per_file']:,} B each; "
        f"{lake['overhead_bytes_per_file']:,.0f} B and {lake['read_ms_per_file']:.3f} ms of local read a file "
        f"are the file's own); compacted, {lake['compacted_bytes_per_partition_month']:,} B; "
        f"{lake['queries']:,} reports a month"
    )
    table = Table(title=f"0014 lake compaction, {schools} schools (USD / month; decided: {lake['decided']})")
    for column in ("schedule", "files a report", "bytes a report", "S3 GETs", "reports $", "runs",
                   "compaction $", "extra GB", "storage $", "total $", "local read ms a report"):  # fmt: skip
        table.add_column(column, justify="left" if column == "schedule" else "right")
    for r in lake["schedules"]:
        table.add_row(
            r["schedule"], f"{r['files_per_report']:,.1f}", f"{r['bytes_scanned_per_report']:,}",
            f"{r['s3_gets']:,}", f"{r['reports_usd']:,.2f}", f"{r['compaction_runs']:,}",
            f"{r['compaction_usd']:,.2f}", f"{r['extra_storage_gb']:,.1f}", f"{r['storage_usd']:,.2f}",
            f"{r['total_usd']:,.2f}", f"{r['local_read_ms_per_report']:,.1f}",
        )  # fmt: skip
    console.print(table)
