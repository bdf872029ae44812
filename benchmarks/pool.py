"""Pool the per-repetition ratios of several full runs: ``python -m benchmarks.pool A.json B.json``.

On a small shared machine one run's medians move by about ±10 % for the same code.
Each repetition's ratio ours ÷ raw (throughput; p50 for the latency scenario) and
CPU-per-message ratio are taken within that repetition, as in the run's own report,
then pooled over every run given: median (min-max) and the number of repetitions.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

OURS = "trio_engineio"
BASELINE = "raw"


def ratios(paths: list[Path]) -> dict[str, tuple[list[float], list[float]]]:
    """Per scenario: throughput (or latency) ratios and CPU-per-message ratios, one per repetition."""
    pooled: dict[str, tuple[list[float], list[float]]] = {}
    for path in paths:
        runs: list[dict[str, Any]] = json.loads(path.read_text())["runs"]
        by_key = {(r["scenario"], r.get("rep"), r["server"]): r for r in runs}
        for (scenario, rep, server), ours in by_key.items():
            raw = by_key.get((scenario, rep, BASELINE))
            if server != OURS or raw is None or scenario.startswith("idle"):
                continue
            metric = "p50_us" if scenario == "ws_latency" else "rate"
            if not ours.get(metric) or not raw.get(metric):
                continue
            throughput, cpu = pooled.setdefault(scenario, ([], []))
            throughput.append(ours[metric] / raw[metric])
            if ours.get("server_cpu_us_per_msg") and raw.get("server_cpu_us_per_msg"):
                cpu.append(ours["server_cpu_us_per_msg"] / raw["server_cpu_us_per_msg"])
    return pooled


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    print("| scenario | repetitions | ours/raw (p50 for latency) | CPU per message ours/raw |")
    print("|---|---|---|---|")
    for scenario, (throughput, cpu) in ratios([Path(p) for p in argv]).items():
        cpu_cell = f"{statistics.median(cpu):.2f}" if cpu else "-"
        print(
            f"| {scenario} | {len(throughput)} | {statistics.median(throughput):.2f} "
            f"({min(throughput):.2f}-{max(throughput):.2f}) | {cpu_cell} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
