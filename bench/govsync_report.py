"""The government-sync benchmark's account: each run's figures printed, the report written as JSON
and plotted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.govsync_corrections import Corrected


def print_figures(title: str, f: dict[str, Any], seeded: int) -> None:
    reasons = ", ".join(f"{code} {count}" for code, count in f["rejected_by_reason"].items()) or "none"
    errors = ", ".join(f"{error} {count}" for error, count in f["dlq_errors"].items())
    submits = " ".join(f"{status}:{n}" for status, n in sorted(f["calls"].get("submit", {}).items()))
    tokens = " ".join(f"{status}:{n}" for status, n in sorted(f["calls"].get("token", {}).items()))
    print(f"\n{title}")
    print(
        f"  accepted by the ministry  {f['accepted_ledger']} records (ledger; our table records {f['accepted_table']})"
    )
    print(f"  rejected                  {f['rejected']} ({reasons})")
    print(
        f"  batches in the DLQ        {f['dlq_batches']} ({f['dlq_records']} records)"
        + (f": {errors}" if errors else "")
    )
    print(
        f"  accounted for             {f['accepted_ledger'] + f['rejected']} accepted + rejected, of {seeded} seeded"
    )
    print(f"  duplicates at ministry    {f['duplicates']} (must be 0)")
    print(f"  lost                      {f['lost']} (must be 0)")
    print(
        f"  calls made                {f['submit_calls']} submit [{submits}] + {f['token_calls']} token [{tokens}]; "
        f"minimum {f['batches_minimum']} submit + 1 token ({_times(f, f['submit_calls'] + f['token_calls'])})"
    )
    print(
        f"  verdicts read back        {f.get('fetch_calls', 0)} GET after a lost answer; every call "
        f"{_all_calls(f)} = {_times(f, _all_calls(f))} the minimum"
    )
    print(
        f"  batches stored / replays  {f['batches_processed']} stored by the ministry, {f['replays']} answered as replays"
    )
    print(f"  faults met               {f['faults']}")
    print(f"  executions                {f['executions']}")
    print(f"  wall time                 {f['wall_seconds']} s")
    print(
        f"  progress read             {f['progress_read_seconds']} s (store.progress of every school, once)"
    )


def _times(f: dict[str, Any], calls: int) -> str:
    """``calls`` against the minimum: one submit a batch and one token."""
    return f"{calls / max(f['batches_minimum'] + 1, 1):.2f}x"


def _all_calls(f: dict[str, Any]) -> int:
    return int(f["submit_calls"] + f["token_calls"] + f.get("fetch_calls", 0))


def _ratio(f: dict[str, Any]) -> str:
    return (
        f"{f['submit_calls']} submit + {f['token_calls']} token = "
        f"{_times(f, f['submit_calls'] + f['token_calls'])} the minimum "
        f"({f['batches_minimum']} + 1), {f.get('fetch_calls', 0)} verdicts read back "
        f"({_times(f, _all_calls(f))} with them); "
        f"{f['faults'].get('outage', 0)} in the outage; "
        f"DLQ {f['dlq_batches']}, lost {f['lost']}, duplicates {f['duplicates']}; {f['wall_seconds']} s"
    )


def print_comparison(report: dict[str, Any]) -> None:
    """Submit calls against the minimum, before (no breaker) and after, for the fault run and for
    the whole sync (the fault run and its redrive)."""
    before = report.get("baseline")
    print("\nsubmit calls against the minimum (fault run: 30% 5xx, 5% timeouts, 429s, an outage)")
    for title, key in (("fault run (run 1)", "faults_run"), ("whole sync (+ redrive)", "redrive_run")):
        print(f"  {title}")
        if before is not None:
            print(f"    before (no breaker)      {_ratio(before[key])}")
        print(f"    after  (breaker, {report['breaker_threshold']} in a row) {_ratio(report[key])}")
    if before is not None:
        print(
            f"  wall time of each session (seeding included): before {before['session_wall_seconds']} s, "
            f"after {report['session_wall_seconds']} s"
        )


def print_correction_figures(title: str, f: dict[str, Any], corrected: Corrected) -> None:
    def line(counts: dict[str, int], expected: int) -> str:
        return (
            f"{counts.get('accepted', 0)} of {expected} (sent {counts.get('sent', 0)}, rejected "
            f"{counts.get('rejected', 0)}, failed to the DLQ {counts.get('failed', 0)}, answered as replays "
            f"{counts.get('replayed', 0)})"
        )

    calls = "  ".join(
        f"{endpoint} [" + " ".join(f"{status}:{n}" for status, n in statuses.items()) + "]"
        for endpoint, statuses in sorted(f["calls"].items())
    )
    print(f"\n{title}")
    print(f"  amendments accepted       {line(f['amendments'], len(corrected.amend))}")
    print(f"  retractions accepted      {line(f['retractions'], len(corrected.retract))}")
    if f["changes_rejected_by_reason"]:
        print(f"  changes rejected          {f['changes_rejected_by_reason']}")
    print(
        f"  at the ministry           {f['ministry_amendments']['applied']} amendments applied to "
        f"{f['ministry_amendments']['records']} records, {f['ministry_retractions']['applied']} retractions; "
        f"{f['ministry_retracted_records']} records retracted"
    )
    print(
        f"  resubmitted               {f['resubmitted']} records the ministry had rejected "
        f"({len(corrected.resubmit)} of them corrected since)"
    )
    print(f"  retracted, never accepted {len(corrected.withheld)}, sent {f['sent_retracted']} (must be 0)")
    print(
        f"  duplicates at ministry    {f['duplicates']} records accepted twice, {f['change_duplicates']} changes "
        "applied twice (must be 0)"
    )
    print(
        f"  lost                      {f['lost']} (must be 0)"
        + (f": {f['lost_sample']}" if f["lost"] else "")
    )
    print(f"  batches in the DLQ        {f['dlq_batches']} ({f['dlq_changes']} records or changes)")
    print(
        f"  calls made                {f['calls_made']}: {calls}; minimum {f['calls_minimum']} "
        f"({f['calls_made'] / max(f['calls_minimum'], 1):.2f}x); {f['change_replays']} changes answered as replays"
    )
    print(f"  executions                {f['executions']}")
    print(f"  wall time                 {f['wall_seconds']} s")


def plot(report: dict[str, Any], schools: Sequence[str], path: Path) -> None:
    """Batches per state, records accepted per school, and the correction phase's amendments and
    retractions accepted, over time; the outages shaded, the redrives and the corrections marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = report["timeline"]
    fig, (top, middle, bottom, calls) = plt.subplots(
        4, 1, figsize=(12, 14), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2, 3]}
    )
    xs = [sample["t"] for sample in timeline]

    def total(key: str) -> list[int]:
        return [sum(sample["schools"][school][key] for school in schools) for sample in timeline]

    top.step(xs, total("done"), where="post", color="#2a7", linewidth=2, label="batches done (the run's)")
    top.step(xs, total("retrying"), where="post", color="#e90", linewidth=2, label="batches retrying")
    top.step(
        xs, total("failed"), where="post", color="#c33", linewidth=2, label="batches failed (in the DLQ)"
    )
    for school in schools:
        top.step(
            xs, [sample["schools"][school]["done"] for sample in timeline], where="post",
            linewidth=0.8, linestyle="--", alpha=0.7, label=f"done: {school}",
        )  # fmt: skip
    top.set_ylabel("batches")
    top.set_title("Government sync under faults: batches per state over time")
    top.legend(fontsize=8, ncol=2, loc="center right")
    middle.stackplot(
        xs,
        *[[sample["schools"][school]["accepted"] for sample in timeline] for school in schools],
        labels=schools,
        step="post",
    )
    middle.set_ylabel("records accepted (cumulative)")
    middle.set_title("Records the ministry accepted, per school")
    middle.legend(fontsize=8, loc="upper left")
    bottom.step(xs, total("amended"), where="post", color="#36c", linewidth=2, label="amendments accepted")
    bottom.step(xs, total("retracted"), where="post", color="#939", linewidth=2, label="retractions accepted")
    corrections = report["corrections"]
    for count, color in (
        (corrections["amendments_expected"], "#36c"),
        (corrections["retractions_expected"], "#939"),
    ):
        bottom.axhline(count, color=color, linestyle=":", linewidth=1)
    bottom.set_ylabel("changes accepted")
    bottom.set_title(
        "Corrections after the sync: amendments and retractions the ministry accepted (dotted: expected)"
    )
    bottom.legend(fontsize=8, loc="upper left")
    _plot_calls(calls, report)
    outages = [(report["outage"]["start_s"], report["outage"]["end_s"]), tuple(corrections["outage"])]
    marks = [(report["redrive"]["started_s"], " redrive"), (corrections["started_s"], " corrections")]
    if corrections["redrive"]["started_s"] is not None:
        marks.append((corrections["redrive"]["started_s"], " redrive"))
    for axis in (top, middle, bottom, calls):
        for start, end in outages:
            axis.axvspan(start, end, color="#c33", alpha=0.12, label="_outage")
        for at, _ in marks:
            axis.axvline(at, color="#333", linestyle=":", linewidth=1.5)
    for start, _ in outages:
        top.text(start, top.get_ylim()[1] * 0.97, " ministry outage", va="top", fontsize=8, color="#a22")
    for at, text in marks:
        top.text(at, top.get_ylim()[1] * 0.85, text, va="top", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_calls(axis: Any, report: dict[str, Any]) -> None:
    """Submit calls so far, with the breaker and (the baseline session) without, against the minimum."""
    for source, label, color in (
        (report.get("baseline"), "no breaker (before)", "#c33"),
        (report, f"breaker, {report['breaker_threshold']} in a row (after)", "#2a7"),
    ):
        if source is None:
            continue
        points = [s for s in source["timeline"] if "submit_calls" in s and s["run"] in ("run 1", "run 2")]
        axis.step(
            [s["t"] for s in points], [s["submit_calls"] for s in points], where="post",
            color=color, linewidth=2, label=f"submit calls, {label}",
        )  # fmt: skip
    minimum = report["faults_run"]["batches_minimum"]
    axis.axhline(minimum, color="#333", linestyle=":", linewidth=1, label=f"minimum ({minimum} batches)")
    axis.axhline(1.5 * minimum, color="#999", linestyle="--", linewidth=1, label="1.5x the minimum")
    axis.set_ylabel("submit calls (cumulative)")
    axis.set_xlabel("seconds since the syncs started")
    axis.set_title("Ministry submit calls of the first sync and its redrive: before and after the breaker")
    axis.legend(fontsize=8, loc="lower right")


def publish(report: dict[str, Any], schools: Sequence[str], poll: str, out: Path) -> None:
    """The report as ``govsync.json`` and ``govsync.png`` in ``out``, and how steady the polls were."""
    (out / "govsync.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    plot(report, schools, out / "govsync.png")
    stamps = [sample["t"] for sample in report["timeline"]]
    gaps = sorted(later - earlier for earlier, later in pairwise(stamps))
    if gaps:
        print(
            f"\ntimeline: {len(stamps)} polls ({poll}), interval median {gaps[len(gaps) // 2]:.2f} s, "
            f"max {gaps[-1]:.2f} s"
        )
    print(f"\ntotal wall time {report['total_wall_seconds']} s (seeding and setup included)")
    print(f"wrote {out / 'govsync.json'} and {out / 'govsync.png'}")
