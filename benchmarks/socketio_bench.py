"""``python -m benchmarks.socketio_bench``: Socket.IO servers side by side, one neutral generator.

Servers (each pinned to core 0 with taskset, the generator to core 1), all answering the
events of ``benchmarks/sio_app.py``:

* ``trio_engineio``: ``benchmarks.sio_app`` under ``hypercorn --worker-class trio``;
* ``python-socketio``: ``AsyncServer`` (``benchmarks.sio_pysio_app``) under uvicorn with the
  asyncio loop, h11 and wsproto (the same pure-Python protocol stack as hypercorn);
* ``node``: npm ``socket.io`` 4.8 (``benchmarks/sio_node_server.js``, tests/js/node_modules).

Scenarios (``benchmarks/sio_loadgen.py``: raw websocket frames, no Socket.IO library):
``echo`` (50 sockets, one event in flight each, emitted back), ``call`` (the same with
acknowledgements) and ``fanout`` (1,000 sockets: memory per idle socket, then broadcasts
of 10 events at a time to all of them). Each run gets a fresh server process; the order of
the servers rotates between repetitions. One repetition takes about 2 minutes.

Results go to ``benchmarks/results/socketio-<time>.{json,md}``; the Markdown tables
(medians, min-max over repetitions, ratios against ``trio_engineio``) are printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from .__main__ import BIN, RESULTS, ROOT, RunningServer, ServerSpec, _hypercorn, _order, run_json

NODE_SERVER = Path(__file__).resolve().parent / "sio_node_server.js"
SERVERS = {
    "trio_engineio": ServerSpec("trio_engineio", _hypercorn("trio", "benchmarks.sio_app:app")),
    "python-socketio": ServerSpec(
        "python-socketio",
        [str(BIN / "uvicorn"), "--loop", "asyncio", "--http", "h11", "--ws", "wsproto",
         "--no-access-log", "--log-level", "warning", "--host", "127.0.0.1", "--port", "{port}",
         "benchmarks.sio_pysio_app:app"],
    ),
    "node": ServerSpec("node", ["node", str(NODE_SERVER), "{port}"]),
}  # fmt: skip
SCENARIOS: dict[str, list[str]] = {
    "echo": ["echo", "--sessions", "50"],
    "call": ["call", "--sessions", "50"],
    "fanout": ["fanout", "--sessions", "1000", "--batch", "10"],
}
DESCRIPTIONS = {
    "echo": "event echo: 50 sockets, one 32-character event in flight each, emitted back to the sender",
    "call": "acked calls: 50 sockets, one event with an ack id in flight each, acknowledged",
    "fanout": "broadcast fan-out: 1,000 sockets, 10 broadcasts of a 32-character event per request",
}


class SocketIOServer(RunningServer):
    """A benchmark server process, ready once ``/socket.io/`` answers a polling handshake."""

    ready_path = b"/socket.io/"


def run_one(name: str, scenario: str, a: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """One scenario against a fresh server process."""
    try:
        server = SocketIOServer(SERVERS[name], {}, log_dir)
    except RuntimeError as error:
        return {"failed": str(error)}
    try:
        argv = ["-m", "benchmarks.sio_loadgen", *SCENARIOS[scenario], "--port", str(server.port),
                "--server-pid", str(server.pid), "--duration", str(a.duration),
                "--warmup", str(a.warmup)]  # fmt: skip
        result = run_json(argv, timeout=a.duration + a.warmup + 120)
        if not server.alive:
            result.setdefault("failed", "server died during the run")
    finally:
        server.stop()
    return result


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _cell(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    text = f"{statistics.median(values):,.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values):,.{digits}f}-{max(values):,.{digits}f})"
    return text


def summarize(runs: list[dict[str, Any]], servers: list[str], scenarios: list[str]) -> str:
    """Markdown tables: per scenario, each server's rate, CPU per message and the ratios."""
    lines: list[str] = []

    def values(server: str, scenario: str, key: str) -> list[float]:
        return [
            float(r[key])
            for r in runs
            if r["server"] == server and r["scenario"] == scenario and "failed" not in r and r.get(key)
        ]

    for scenario in scenarios:
        unit = "deliveries/s" if scenario == "fanout" else "msg/s"
        lines += [f"### {scenario}", "", DESCRIPTIONS[scenario], ""]
        head = f"| server | {unit} | server CPU | CPU µs/msg | rate vs ours | CPU/msg vs ours |"
        if scenario == "fanout":
            head += " RSS KiB/idle socket | connect 1,000 (s) |"
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        ours_rate = _median(values("trio_engineio", scenario, "rate"))
        ours_cpu = _median(values("trio_engineio", scenario, "server_cpu_us_per_msg"))
        for server in servers:
            rate = values(server, scenario, "rate")
            cpu = values(server, scenario, "server_cpu_us_per_msg")
            share = values(server, scenario, "server_cpu")
            row = [
                server,
                _cell(rate, 0),
                _cell([100 * s for s in share], 0) + "%",
                _cell(cpu, 1),
                f"{_median(rate) / ours_rate:.2f}x" if rate and ours_rate else "-",
                f"{_median(cpu) / ours_cpu:.2f}x" if cpu and ours_cpu else "-",
            ]
            if scenario == "fanout":
                row.append(_cell([v / 1024 for v in values(server, scenario, "rss_per_socket")], 1))
                row.append(_cell(values(server, scenario, "connect_seconds"), 1))
            failures = [r["failed"] for r in runs if r["server"] == server and r["scenario"] == scenario
                        and "failed" in r]  # fmt: skip
            if failures:
                row[0] += f" ({len(failures)} failed: {failures[0][:80]})"
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    a = parser.parse_args(argv)
    servers = [s for s in a.servers.split(",") if s]
    scenarios = [s for s in a.scenarios.split(",") if s]
    if "node" in servers and shutil.which("node") is None:
        print("node is not installed: skipping the node server")
        servers.remove("node")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / f"socketio-{stamp}-logs"
    log_dir.mkdir()
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    for rep in range(a.reps):
        for scenario in scenarios:
            for name in _order(servers, rep):
                result = run_one(name, scenario, a, log_dir)
                result.update(server=name, scenario=scenario, rep=rep)
                runs.append(result)
                if "failed" in result:
                    print(f"  rep {rep} {scenario:<7} {name:<16} FAILED: {result['failed']}", flush=True)
                else:
                    print(
                        f"  rep {rep} {scenario:<7} {name:<16} {result['rate']:9.0f}/s  "
                        f"server {result['server_cpu']:4.0%} CPU {result['server_cpu_us_per_msg'] or 0:7.1f} "
                        f"us/msg  gen {result['gen_cpu']:4.0%}  other {result['other_cpu']:4.0%}"
                        + (
                            f"  {result['rss_per_socket'] / 1024:.1f} KiB/socket"
                            if scenario == "fanout"
                            else ""
                        )
                        + (f"  BAD {result['bad']}" if result.get("bad") else ""),
                        flush=True,
                    )
    report = summarize(runs, servers, scenarios)
    meta = {"seconds": round(time.monotonic() - started, 1), "args": vars(a), "root": str(ROOT)}
    stem = RESULTS / f"socketio-{stamp}"
    Path(f"{stem}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    Path(f"{stem}.md").write_text(report)
    print()
    print(report)
    print(f"written: {stem}.json, {stem}.md (server logs in {log_dir}); {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
