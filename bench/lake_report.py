"""The lake benchmark's report: its figures printed, and plotted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.lake_workload import SUBJECTS


def mb(value: float) -> str:
    return f"{value / 1e6:.2f} MB"


def kb(value: float) -> str:
    return f"{value / 1e3:.1f} KB"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def print_figures(report: dict[str, Any]) -> None:
    w = report["workload"]
    p = report["pipeline"]
    f = report["freshness"]
    lake = report["lake"]
    print("\nworkload")
    print(
        f"  {w['schools']} schools ({w['percentage_schools']} grading in %), {w['students']} students, "
        f"{len(SUBJECTS)} subjects, term {w['term']} ({w['term_start']} .. {w['term_end']})"
    )
    print(
        f"  term load: {w['term_writes']} writes ({w['evaluations']} grades, {w['notes']} notes, "
        f"{w['exercise_results']} exercise results; {w['expired_results']} results past their TTL)"
    )
    print(
        f"  changes through the REST API: {w['grades_changed']} grades, {w['corrections']} corrections "
        f"({w['second_corrections']} second ones), {w['retractions']} retractions"
    )
    print(
        f"  steady: {w['live_records']} grades/notes through the repository in {w['live_seconds']} s; "
        f"probes: {w['probes']}"
    )
    t = report["throughput"]
    print("\nthroughput (this engine: moto in this process, 2 cores)")
    print(
        f"  roster {t['roster_seconds']} s; term load {t['term_seconds']} s = {t['term_writes_per_second']} writes/s "
        f"while the poller read {t['stream_read_per_second_during_load']} records/s; "
        f"backlog drained in {t['drain_seconds']} s ({t['drain_records_per_second']} records/s)"
    )
    print(
        f"  one reaper pass over the final table ({t['table_items']} items): {t['reaper_pass_seconds']} s "
        f"from the stream-fed schedule vs {t['reaper_scan_seconds']} s scanning the table "
        f"(the platform runs one every {report['config']['reaper_interval_seconds']:g} s, in the poller's process)"
    )
    print("\npipeline counters")
    print(
        f"  stream records read {p['records_read']} (expected {p['expected_stream_records']}: bench "
        f"{p['expected_from_bench']} + reaped {p['reaped']} + the platform's start "
        f"{p['platform_start_records']}), "
        f"records in {p['records_in']}"
    )
    print(
        f"  rows written {p['rows_out']} (expected {p['expected_rows']}; in the lake {lake['rows']}), "
        f"dropped {sum(p['skipped'].values())}: {p['skipped']}"
    )
    print(
        f"  REMOVEs: seen {p['skipped'].get('remove', 0)} (expected {p['expected_removes']}: "
        f"{p['reaped']} reaped of {w['expired_results']} expired; grades are never deleted), "
        f"landed {lake['removes_landed']} (must be 0)"
    )
    print(
        f"  files {p['files_written']}, bytes {mb(p['bytes_written'])}, flushes {p['flushes']} "
        f"({p['files_written'] / max(1, p['flushes']):.1f} files a flush), failed writes {p['failed_writes']}, "
        f"undecodable {p['undecodable']}"
    )
    print("\nfreshness, change -> queryable (seconds: p50 / p95 / max, count)")

    def line(label: str, values: dict[str, Any]) -> None:
        if values:
            print(
                f"  {label:<44} {values['p50']:7.2f} {values['p95']:7.2f} {values['max']:7.2f}  n={values['count']}"
            )
        else:
            print(f"  {label:<44} -")

    line("pipeline (its own figures, every row)", f["pipeline"])
    line("lake files (file written - changed_at), all", f["lake_all"])
    line("  term load (backfill)", f["lake_load"])
    line("  changes through the API (later versions)", f["lake_changes"])
    line("  steady", f["lake_steady"])
    line("probes (write -> DuckDbLake returns it), load", f["probes_load"])
    line("probes, changes", f["probes_changes"])
    line("probes, steady", f["probes_steady"])
    line("probe query time (their resolution), load", f["probe_query_load"])
    line("probe query time, changes", f["probe_query_changes"])
    line("probe query time, steady", f["probe_query_steady"])
    print(
        f"  probes every {report['config']['probe_every']:g} s +-50%, polled every {report['config']['probe_poll']:g} s "
        f"after the last query; probe errors {f['probe_errors']}"
    )
    print("\nlake")
    print(
        f"  {lake['files']} files, {mb(lake['bytes'])}, mean file {kb(lake['mean_file_bytes'])} "
        f"(median {kb(lake['median_file_bytes'])}, {lake['mean_rows_per_file']:.0f} rows a file)"
    )
    print(
        f"  {lake['partitions']} partitions (school/year/month), files per partition mean "
        f"{lake['files_per_partition_mean']:.1f}, median {lake['files_per_partition_median']}, max "
        f"{lake['files_per_partition_max']}"
    )
    print(
        f"  small files: {share(lake['files_under_64kb'], lake['files'])} under 64 KB; one file per "
        f"partition would be {lake['partitions']} files of {kb(lake['bytes'] / max(1, lake['partitions']))} "
        f"({lake['files'] / max(1, lake['partitions']):.0f}x fewer)"
    )
    print(
        f"  (the probes' own schools hold {lake['probe_files']} more files, {kb(lake['probe_bytes'])}: left out above "
        "and below)"
    )
    print(
        f"  rows {lake['rows']} = {lake['records']} records + {lake['rows'] - lake['records']} later versions "
        f"({lake['tombstones']} of them tombstones); version ties {lake['version_ties']} (must be 0); "
        f"versions created in the same second as an earlier one {lake['versions_in_the_same_second']} "
        "(in AWS their changed_at ties: why the reports order by version, then stream sequence)"
    )
    q = report["queries"]
    print(
        f"\none school ({q['school']}, {q['school_students']} students) vs the whole lake "
        f"({q['lake_files']} files, {mb(q['lake_bytes'])}); median of {report['config']['repeat']} "
        f"(whole lake: {report['config']['baseline_repeat']})"
    )
    for r in q["reports"].values():
        print(
            f"  {r['use_case']:<24} read {r['files_read']:4d} files {mb(r['bytes_read'])} "
            f"({share(r['files_read'], q['lake_files'])} / {share(r['bytes_read'], q['lake_bytes'])}); "
            f"{r['seconds']:.3f} s vs whole-lake scan {r['whole_lake_seconds']:.3f} s "
            f"({r['speedup']:.1f}x); same answer {'yes' if r['same_answer'] else 'NO'}; "
            f"other schools' files {r['foreign_files']}"
        )
    a = report["api"]
    print(f"\nchanges through the REST API (gateway, teacher tokens, {a['workers']} teachers at a time)")
    print(
        f"  {sum(a['answers'].values())} requests in {a['wall_seconds']} s ({a['requests_per_second']}/s): "
        f"{dict(sorted(a['answers'].items()))}"
    )
    for name, values in sorted(a["seconds"].items()):
        print(
            f"  {name:<8} p50 {1000 * values['p50']:6.1f} ms  p95 {1000 * values['p95']:6.1f} ms  "
            f"n={values['count']}"
        )
    print(
        f"  on {a['checked']} grades: 428 without If-Match {a['unconditional_refused']}, 412 on a stale one "
        f"{a['stale_refused']}, a replayed key answered the same {a['replays_same']}; unexpected answers "
        f"{len(a['unexpected'])} (must be 0)"
    )
    c = report["cross_check"]
    print("\ncorrectness")
    print(
        f"  {c['schools']} schools: per-student averages ({c['student_groups_checked']} student/subject "
        "groups) "
        f"and subject averages ({c['subject_groups_checked']} groups) from the lake's reports vs the table's "
        f"current grades, and subject averages vs the records asked for: {len(c['mismatches'])} mismatches"
    )
    print(
        f"  the table vs what the bench asked the API to do: {len(c['table_vs_requests'])} differences; "
        f"{c['retracted_in_table']} retracted grades (tombstones in the lake), the largest gap they would "
        "make "
        f"to an average if counted: {c['max_gap_if_retracted_counted']}"
    )
    print(f"\ntotal wall time {report['total_wall_seconds']} s")


def plot(report: dict[str, Any], ages: dict[str, list[float]], sizes: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 9))
    (cdf, files_ax, bytes_ax), (time_ax, size_ax, part_ax) = axes

    def cdf_line(values: list[float], label: str, **style: Any) -> None:
        if values:
            ordered = sorted(values)
            ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
            cdf.step(ordered, ys, where="post", label=f"{label} (n={len(ordered)})", **style)

    cdf_line(ages["lake_load"], "rows, term load (backfill)", color="#e90")
    cdf_line(ages["lake_changes"], "rows, changes through the API", color="#93c")
    cdf_line(ages["lake_steady"], "rows, steady", color="#2a7")
    cdf_line(ages["probes_load"], "probes, term load", color="#c33", linestyle="--")
    cdf_line(ages["probes_steady"], "probes, steady", color="#27c", linestyle="--")
    cdf.set_xscale("log")
    cdf.set_xlabel("seconds from change to queryable")
    cdf.set_ylabel("share of changes")
    cdf.set_title("Freshness (CDF)")
    cdf.legend(fontsize=8)
    cdf.grid(alpha=0.3)

    q = report["queries"]
    names = [r["use_case"] for r in q["reports"].values()]
    xs = range(len(names))
    for axis, key, whole, unit, scale in (
        (files_ax, "files_read", q["lake_files"], "files", 1.0),
        (bytes_ax, "bytes_read", q["lake_bytes"], "MB", 1e6),
    ):
        one = [r[key] / scale for r in q["reports"].values()]
        axis.bar([x - 0.2 for x in xs], one, 0.4, label=f"one school ({q['school']})", color="#27c")
        axis.bar([x + 0.2 for x in xs], [whole / scale] * len(names), 0.4, label="whole lake", color="#999")
        for x, value in zip(xs, one, strict=True):
            axis.text(
                x - 0.2, value, f"{100 * value * scale / whole:.1f}%", ha="center", va="bottom", fontsize=8
            )
        axis.set_yscale("log")
        axis.set_ylim(top=whole / scale * 8)  # room for the legend above the bars
        axis.set_xticks(list(xs), names, rotation=15, fontsize=8)
        axis.set_ylabel(unit)
        axis.set_title(f"{'Files' if key == 'files_read' else 'Bytes'} read per query")
        axis.legend(fontsize=8)

    one_s = [r["seconds"] for r in q["reports"].values()]
    whole_s = [r["whole_lake_seconds"] for r in q["reports"].values()]
    time_ax.bar([x - 0.2 for x in xs], one_s, 0.4, label="one school (DuckDbLake)", color="#27c")
    time_ax.bar([x + 0.2 for x in xs], whole_s, 0.4, label="whole-lake scan, same SQL", color="#999")
    for x, r in zip(xs, q["reports"].values(), strict=True):
        time_ax.text(x, r["whole_lake_seconds"], f"{r['speedup']:.0f}x", ha="center", va="bottom", fontsize=8)
    time_ax.set_ylim(top=max(whole_s) * 1.3)
    time_ax.set_xticks(list(xs), names, rotation=15, fontsize=8)
    time_ax.set_ylabel("seconds (median)")
    time_ax.set_title("Query time")
    time_ax.legend(fontsize=8)

    size_ax.hist([s / 1e3 for s in sizes], bins=40, color="#e90")
    size_ax.set_xlabel("file size (KB)")
    size_ax.set_ylabel("files")
    size_ax.set_title(f"Lake file sizes ({len(sizes)} files): the small-file picture")

    per_partition = report["lake"]["files_per_partition"]
    part_ax.hist(list(per_partition.values()), bins=30, color="#888")
    part_ax.set_xlabel("files in the partition (school/year/month)")
    part_ax.set_ylabel("partitions")
    part_ax.set_title(f"Files per partition ({len(per_partition)} partitions)")

    fig.suptitle("Luca lake: a school term through the stream into Parquet, and one school's reports")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
