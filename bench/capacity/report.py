"""``model`` step: the three scenarios priced, as rich tables, ``bench/out/capacity.json`` and
``bench/out/capacity.png`` (monthly cost per service, stacked, per scenario; and per school)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from bench.capacity import scenario
from bench.capacity.model import model
from bench.capacity.tables import console, print_decisions, print_scenario

OUT = Path(__file__).resolve().parents[1] / "out"


def load_prices(path: Path) -> dict[str, Any]:
    prices: dict[str, Any] = tomllib.loads(path.read_text())
    for field in ("region", "date", "note"):
        if field not in prices:
            raise ValueError(f"{path.name} must state its {field}")
    return prices


def run(measured_path: Path, scenario_paths: list[Path], prices_path: Path) -> list[dict[str, Any]]:
    if not measured_path.exists():
        raise SystemExit(f"{measured_path} is missing: run `python -m bench.capacity measure` first")
    measured = json.loads(measured_path.read_text())
    prices = load_prices(prices_path)
    results = []
    for path in sorted(scenario_paths, key=lambda p: scenario.load(p).schools):
        s = scenario.load(path)
        result = model(measured, s, prices)
        result["scenario"] = {"name": s.name, "schools": s.schools, "file": path.name, **vars(s)}
        result["prices"] = f"{prices['region']}, {prices['date']}, {prices['note']}"
        print_scenario(result)
        print_decisions(result)
        results.append(result)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "capacity.json").write_text(
        json.dumps({"measured": measured_path.name, "scenarios": results}, indent=2) + "\n"
    )
    plot(results, OUT / "capacity.png")
    console.print(f"wrote {OUT / 'capacity.json'} and {OUT / 'capacity.png'}")
    return results


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    services = list(results[0]["services"])
    names = [r["scenario"]["name"] for r in results]
    fig, (total_ax, school_ax) = plt.subplots(1, 2, figsize=(13, 5.5))
    bottom = [0.0] * len(results)
    for service in services:
        values = [r["services"][service]["usd"] for r in results]
        total_ax.bar(names, values, bottom=bottom, label=service)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    total_ax.set_ylabel("USD per month")
    total_ax.set_title("Monthly cost by service")
    total_ax.legend(fontsize=7, ncol=2)
    school_ax.bar(names, [r["per_school_usd"] for r in results], color="tab:gray")
    school_ax.set_ylabel("USD per school per month")
    school_ax.set_title("Cost per school")
    fig.suptitle(f"Luca capacity model ({results[0]['prices'].split(',')[0]} list prices, to be checked)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
