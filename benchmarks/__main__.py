"""``python -m benchmarks``: run the servers side by side and compare them.

Servers (each pinned to core 0 with taskset, the generator to core 1):

* ``trio_engineio``: ``benchmarks.bench_app`` under ``hypercorn --worker-class trio``;
* ``raw``: ``benchmarks.raw_app`` (the ceiling) under the same worker;
* ``pe-hypercorn``: python-engineio under ``hypercorn --worker-class asyncio``;
* ``pe-uvicorn``: python-engineio under uvicorn (asyncio loop, h11, wsproto: the
  same pure-Python protocol stack as hypercorn);
* ``trio_engineio-events`` (not run by default): the python-engineio style API.

Every repetition runs each scenario against every server in turn (the order rotates
between repetitions); ratios against ``raw`` are taken within a repetition, and the
tables show medians with min-max. Results go to ``benchmarks/results/`` (JSON and
Markdown) and the Markdown tables are printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
SERVER_CORE = "0"
CLIENT_CORE = "1"


@dataclass
class ServerSpec:
    name: str
    argv: list[str]  # with {port}
    env: dict[str, str] = field(default_factory=dict)
    #: Where the server's Python code comes from (default: this checkout).
    source: Path | None = None


def _hypercorn(worker: str, app: str) -> list[str]:
    # uvicorn's default backlog; hypercorn's (100) drops SYNs when thousands of sessions connect.
    bind = ["-b", "127.0.0.1:{port}", "--backlog", "2048"]
    return [str(BIN / "hypercorn"), "--worker-class", worker, "-w", "0", *bind, app]


SERVERS = {
    "trio_engineio": ServerSpec("trio_engineio", _hypercorn("trio", "benchmarks.bench_app:app")),
    "raw": ServerSpec("raw", _hypercorn("trio", "benchmarks.raw_app:app")),
    "pe-hypercorn": ServerSpec("pe-hypercorn", _hypercorn("asyncio", "benchmarks.pe_app:app")),
    "pe-uvicorn": ServerSpec(
        "pe-uvicorn",
        [
            str(BIN / "uvicorn"),
            "--loop",
            "asyncio",
            "--http",
            "h11",
            "--ws",
            "wsproto",
            "--no-access-log",
            "--log-level",
            "warning",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "benchmarks.pe_app:app",
        ],
    ),
    "trio_engineio-events": ServerSpec(
        "trio_engineio-events",
        _hypercorn("trio", "benchmarks.bench_app:app"),
        {"EIO_BENCH_STYLE": "events"},
    ),
}
DEFAULT_SERVERS = ["trio_engineio", "raw", "pe-hypercorn", "pe-uvicorn"]
#: The server name of ``--baseline``'s checkout.
BASELINE = "trio_engineio-baseline"


@dataclass
class Scenario:
    name: str
    args: list[str]
    #: The headline metric and whether more is better.
    metric: str = "rate"
    higher_is_better: bool = True
    unit: str = "msg/s"
    description: str = ""


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("ws_echo_32", ["ws_echo", "--sessions", "50", "--size", "32"],
                 description="websocket echo, 32 B text, 50 sessions, 1 in flight each"),
        Scenario("ws_echo_4k_bin", ["ws_echo", "--sessions", "50", "--size", "4096", "--binary"],
                 description="websocket echo, 4 KiB binary, 50 sessions"),
        Scenario("ws_latency", ["ws_echo", "--sessions", "1", "--size", "32"], metric="p50_us",
                 higher_is_better=False, unit="us",
                 description="websocket round trip, 1 session, 32 B text (p50; p99 in the JSON)"),
        Scenario("ws_c2s", ["ws_c2s", "--sessions", "50", "--size", "32", "--batch", "50", "--inflight", "4"],
                 description="client->server: 50 `~` then `?`, 4 such batches in flight, 50 sessions"),
        Scenario("ws_s2c", ["ws_s2c", "--sessions", "50", "--size", "32", "--batch", "500"],
                 description="server->client push: `!500:32`, 2 requests outstanding, 50 sessions"),
        Scenario("poll_echo", ["poll_echo", "--sessions", "50", "--size", "32"],
                 description="polling-only echo, 32 B text, 50 sessions"),
        Scenario("ws_connect", ["ws_connect", "--sessions", "8"], unit="sessions/s",
                 description="websocket sessions opened and closed per second, 8 at a time"),
        Scenario("poll_connect", ["poll_connect", "--sessions", "8"], unit="sessions/s",
                 description="polling sessions opened (GET) and closed (POST `1`) per second, 8 at a time"),
    ]
}  # fmt: skip
IDLE_SIZES = [1000, 5000]
TARGETS = {
    "throughput": ">= 0.9x raw",
    "ws_latency": "p50 <= 1.1x raw",
    "idle_rss": "<= raw + 4 KiB/session",
    "idle_cpu": "CPU/ping <= raw",
}


# ------------------------------------------------------------------ processes
def _pin(core: str) -> list[str]:
    return (
        ["taskset", "-c", core] if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1 else []
    )  # type: ignore[operator]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningServer:
    #: Ready once a polling handshake on this path answers 200.
    ready_path = b"/engine.io/"

    def __init__(self, spec: ServerSpec, env: dict[str, str], log_dir: Path) -> None:
        self.spec = spec
        self.port = _free_port()
        argv = [*_pin(SERVER_CORE), *(a.format(port=self.port) for a in spec.argv)]
        self.log = open(log_dir / f"{spec.name}.log", "ab")  # noqa: SIM115 - closed in stop()
        source = spec.source or ROOT
        full_env = {**os.environ, **env, **spec.env, "PYTHONPATH": str(source)}
        self.proc = subprocess.Popen(
            argv, cwd=source, env=full_env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.pid = self.proc.pid  # taskset execs the server: same pid
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited with {self.proc.returncode} (see its log)")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(
                        b"GET " + self.ready_path + b"?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
                    )
                    if b" 200 " in s.recv(4096):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.spec.name} did not start in {timeout} s")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run_json(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run a generator/client process pinned to the client core; its last stdout line is JSON."""
    try:
        done = subprocess.run(
            [*_pin(CLIENT_CORE), sys.executable, *argv],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {timeout} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"failed": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return dict(json.loads(lines[-1]))


# ------------------------------------------------------------------- phases
def _order(names: list[str], rep: int) -> list[str]:
    k = rep % len(names)
    return names[k:] + names[:k]


def throughput_phase(a: argparse.Namespace, log_dir: Path, runs: list[dict[str, Any]]) -> None:
    env = {"EIO_PING_INTERVAL_MS": "25000", "EIO_PING_TIMEOUT_MS": "20000"}
    servers = {name: RunningServer(SERVERS[name], env, log_dir) for name in a.servers}
    try:
        for rep in range(a.reps):
            for scenario in a.scenarios:
                spec = SCENARIOS[scenario]
                for name in _order(a.servers, rep):
                    server = servers[name]
                    if not server.alive:
                        print(f"  ! {name} died; restarting it", flush=True)
                        servers[name] = server = RunningServer(SERVERS[name], env, log_dir)
                    argv = ["-m", "benchmarks.loadgen", *spec.args, "--port", str(server.port),
                            "--server-pid", str(server.pid), "--duration", str(a.duration),
                            "--warmup", str(a.warmup)]  # fmt: skip
                    result = run_json(argv, timeout=a.duration + a.warmup + 60)
                    if not server.alive:
                        result.setdefault("failed", "server died during the run")
                    result.update(server=name, scenario=scenario, rep=rep)
                    runs.append(result)
                    _progress(result, spec)
    finally:
        for server in servers.values():
            server.stop()


def idle_interval_ms(a: argparse.Namespace, size: int) -> int:
    """The ping interval for ``size`` idle sessions: 1 s, or 1 000 pings/s above 1 000 sessions.

    At 1 s, 5 000 sessions need more than a whole core of pings from every server measured
    here (~200 us each): connecting them then takes minutes and pings arrive late.
    """
    if a.idle_interval_ms:
        return int(a.idle_interval_ms)
    return max(1000, size)


def idle_phase(a: argparse.Namespace, log_dir: Path, runs: list[dict[str, Any]]) -> None:
    for rep in range(a.idle_reps):
        for size in a.idle_sizes:
            if size > 1000 and rep >= a.idle_reps_large:
                continue
            interval = idle_interval_ms(a, size)
            env = {"EIO_PING_INTERVAL_MS": str(interval), "EIO_PING_TIMEOUT_MS": str(a.idle_timeout_ms)}
            hold = a.idle_intervals * interval / 1000
            for name in _order(a.servers, rep):
                try:
                    server = RunningServer(SERVERS[name], env, log_dir)
                except RuntimeError as exc:
                    runs.append({"server": name, "scenario": f"idle_{size}", "rep": rep, "failed": str(exc)})
                    continue
                try:
                    argv = ["-m", "benchmarks.loadgen", "idle", "--sessions", str(size),
                            "--port", str(server.port), "--server-pid", str(server.pid),
                            "--duration", str(hold), "--warmup", "0.5"]  # fmt: skip
                    result = run_json(argv, timeout=hold + 120)
                    if not server.alive:
                        result.setdefault("failed", "server died during the run")
                finally:
                    server.stop()
                result.update(server=name, scenario=f"idle_{size}", rep=rep)
                runs.append(result)
                _progress(result, None)


def client_phase(a: argparse.Namespace, log_dir: Path, runs: list[dict[str, Any]]) -> None:
    env = {"EIO_PING_INTERVAL_MS": "25000", "EIO_PING_TIMEOUT_MS": "20000"}
    server = RunningServer(SERVERS[a.client_server], env, log_dir)
    try:
        clients = ["trio_engineio", "python-engineio"]
        for rep in range(a.reps):
            for transport in ("websocket", "polling"):
                for client in _order(clients, rep):
                    argv = ["-m", "benchmarks.client_bench", client, "--url", f"http://127.0.0.1:{server.port}",
                            "--transport", transport, "--duration", str(a.duration),
                            "--warmup", str(a.warmup)]  # fmt: skip
                    result = run_json(argv, timeout=a.duration + 60)
                    result.update(server=client, scenario=f"client_{transport}", rep=rep)
                    runs.append(result)
                    _progress(result, None)
    finally:
        server.stop()


def _progress(result: dict[str, Any], spec: Scenario | None) -> None:
    head = f"  rep {result['rep']} {result['scenario']:<16} {result['server']:<22}"
    if "failed" in result:
        print(f"{head} FAILED: {result['failed']}", flush=True)
        return
    if result["scenario"].startswith("idle"):
        body = (
            f"{result['rss_per_session'] / 1024:7.1f} KiB/session  "
            f"{result['server_cpu_us_per_ping'] or 0:7.1f} us/ping  "
            f"min pings {result['min_pings']}  dropped {result['dropped']}  "
            f"connect {result['connect_seconds']:.1f} s"
        )
    elif result["scenario"].startswith("client"):
        body = f"{result['rate']:9.0f} msg/s  {result['client_cpu_us_per_msg']:7.1f} us/msg client CPU"
    else:
        value = result.get(spec.metric if spec else "rate") or 0
        body = (
            f"{value:9.1f} {spec.unit if spec else ''}  server {result['server_cpu']:4.0%} CPU "
            f"{result['server_cpu_us_per_msg'] or 0:7.1f} us/msg  gen {result['gen_cpu']:4.0%}  "
            f"other {result.get('other_cpu', 0):4.0%}"
        )
    problems = sum(int(result.get(k) or 0) for k in ("bad", "errors", "lost"))
    print(f"{head} {body}{f'  PROBLEMS {problems}' if problems else ''}", flush=True)


# ------------------------------------------------------------------ summary
def _fmt(values: list[float], digits: int = 0) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def _values(runs: list[dict[str, Any]], scenario: str, server: str, key: str) -> dict[int, float]:
    return {
        r["rep"]: float(r[key])
        for r in runs
        if r["scenario"] == scenario
        and r["server"] == server
        and "failed" not in r
        and r.get(key) is not None
    }


def _ratio(runs: list[dict[str, Any]], scenario: str, key: str, ours: str, base: str) -> list[float]:
    a = _values(runs, scenario, ours, key)
    b = _values(runs, scenario, base, key)
    return [a[rep] / b[rep] for rep in sorted(a) if b.get(rep)]


def _problems(runs: list[dict[str, Any]], scenario: str, server: str) -> str:
    selected = [r for r in runs if r["scenario"] == scenario and r["server"] == server]
    failed = sum(1 for r in selected if "failed" in r)
    bad = sum(int(r.get("bad") or 0) for r in selected)
    errors = sum(int(r.get("errors") or 0) + int(r.get("lost") or 0) for r in selected)
    text = f"{bad}/{errors}"
    return text + (f" ({failed} failed)" if failed else "")


def summarize(runs: list[dict[str, Any]], servers: list[str], meta: dict[str, Any]) -> str:
    ours, base = "trio_engineio", "raw"
    compare = ours in servers and base in servers
    lines = [f"# Benchmark results {meta['started']}", "", f"Code measured: {meta.get('git', '?')}.", ""]
    interval = meta["idle_interval_ms"] or "1 s (5 s for 5000 sessions: 1000 pings/s)"
    lines.append(
        f"{meta['reps']} repetition(s) of {meta['duration']} s (+{meta['warmup']} s warm-up); "
        f"idle: {meta['idle_reps']} repetition(s), ping interval {interval} held "
        f"{meta['idle_intervals']} intervals. Servers pinned to core {SERVER_CORE}, generator to core "
        f"{CLIENT_CORE}. Cells: median (min-max). bad/err: bad messages / errors+lost, summed over reps."
    )
    lines.append("")
    scenarios = [s for s in SCENARIOS if any(r["scenario"] == s for r in runs)]
    if scenarios:
        lines += ["## Throughput and latency", ""]
        header = "| scenario | unit | " + " | ".join(servers)
        header += " | ours/raw | target | bad/err (ours) |" if compare else " |"
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        for s in scenarios:
            spec = SCENARIOS[s]
            cells = [_fmt(list(_values(runs, s, name, spec.metric).values())) for name in servers]
            row = f"| {s} | {spec.unit} | " + " | ".join(cells)
            if compare:
                ratios = _ratio(runs, s, spec.metric, ours, base)
                limit = 1.1 if s == "ws_latency" else 0.9
                ok = ratios and (
                    statistics.median(ratios) <= limit if not spec.higher_is_better
                    else statistics.median(ratios) >= limit
                )  # fmt: skip
                target = ("p50 <= 1.1x" if s == "ws_latency" else ">= 0.9x") + (" ok" if ok else " MISS")
                row += f" | {_fmt(ratios, 2)} | {target} | {_problems(runs, s, ours)}"
            lines.append(row + " |")
        lines += ["", "Server CPU per message (us; for connects: per session) and CPU use:", ""]
        header = "| scenario | " + " | ".join(servers) + (" | ours/raw |" if compare else " |")
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        for s in scenarios:
            cells = [
                _fmt(list(_values(runs, s, n, "server_cpu_us_per_msg").values()), 1)
                + f" @{_fmt([100 * v for v in _values(runs, s, n, 'server_cpu').values()])}%"
                for n in servers
            ]
            row = f"| {s} | " + " | ".join(cells)
            if compare:
                row += f" | {_fmt(_ratio(runs, s, 'server_cpu_us_per_msg', ours, base), 2)}"
            lines.append(row + " |")
        if "ws_latency" in scenarios:
            lines += ["", "1-session latency p99 (us): " + ", ".join(
                f"{n} {_fmt(list(_values(runs, 'ws_latency', n, 'p99_us').values()))}" for n in servers
            )]  # fmt: skip
        gen = [r.get("gen_cpu", 0) for r in runs if "gen_cpu" in r and not r["scenario"].startswith("idle")]
        other = [r.get("other_cpu", 0) for r in runs if "other_cpu" in r]
        if gen:
            lines += [
                "",
                f"Generator CPU (one core): median {statistics.median(gen):.0%}, max {max(gen):.0%}. "
                f"Other processes on the machine during windows: median {statistics.median(other):.0%}, "
                f"max {max(other):.0%} of a core.",
            ]
    idle = [f"idle_{n}" for n in IDLE_SIZES if any(r["scenario"] == f"idle_{n}" for r in runs)]
    if idle:
        lines += ["", "## Idle websocket sessions", ""]
        for metric, label, scale, target in (
            ("rss_per_session", "RSS per session (KiB)", 1 / 1024, "<= raw + 4 KiB"),
            ("server_cpu_us_per_ping", "server CPU per ping (us)", 1, "<= raw"),
        ):
            header = (
                f"| {label} | "
                + " | ".join(servers)
                + (" | ours-raw | ours/raw | target |" if compare else " |")
            )
            lines += [header, "|" + "---|" * (header.count("|") - 1)]
            for s in idle:
                cells = [_fmt([v * scale for v in _values(runs, s, n, metric).values()], 1) for n in servers]
                row = f"| {s} | " + " | ".join(cells)
                if compare:
                    a, b = _values(runs, s, ours, metric), _values(runs, s, base, metric)
                    diffs = [(a[k] - b[k]) * scale for k in a if k in b]
                    ratios = [a[k] / b[k] for k in a if b.get(k)]
                    if metric == "rss_per_session":
                        ok = bool(diffs) and statistics.median(diffs) <= 4
                    else:
                        ok = bool(ratios) and statistics.median(ratios) <= 1
                    row += f" | {_fmt(diffs, 1)} | {_fmt(ratios, 2)} | {target}{' ok' if ok else ' MISS'}"
                lines.append(row + " |")
            lines.append("")
        header = "| checks | " + " | ".join(servers) + " |"
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        for s in idle:
            cells = []
            for n in servers:
                sel = [r for r in runs if r["scenario"] == s and r["server"] == n]
                ok = [r for r in sel if "failed" not in r]
                cells.append(
                    f"min pings {min((r['min_pings'] for r in ok), default='-')}, "
                    f"dropped {sum(r['dropped'] for r in ok)}, connect "
                    f"{_fmt([r['connect_seconds'] for r in ok], 1)} s"
                    + (f", {len(sel) - len(ok)} failed" if len(sel) != len(ok) else "")
                )
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
    client = [s for s in ("client_websocket", "client_polling") if any(r["scenario"] == s for r in runs)]
    if client:
        names = ["trio_engineio", "python-engineio"]
        lines += [
            "",
            f"## Clients (one session, 8 messages in flight, against `{meta['client_server']}`)",
            "",
        ]
        header = "| transport | metric | " + " | ".join(names) + " | ours/pe |"
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        for s in client:
            for key, label, digits in (
                ("rate", "msg/s", 0),
                ("client_cpu_us_per_msg", "client CPU us/msg", 1),
            ):
                cells = [_fmt(list(_values(runs, s, n, key).values()), digits) for n in names]
                ratio = _fmt(_ratio(runs, s, key, names[0], names[1]), 2)
                lines.append(
                    f"| {s.removeprefix('client_')} | {label} | " + " | ".join(cells) + f" | {ratio} |"
                )
    failures = [r for r in runs if "failed" in r]
    if failures:
        lines += ["", "## Failed runs", ""]
        lines += [f"- rep {r['rep']} {r['scenario']} {r['server']}: {r['failed']}" for r in failures]
    return "\n".join(lines) + "\n"


def _git_state() -> str:
    """HEAD and the package files modified in the work tree: what was measured."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "trio_engineio"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    changed = [line[3:] for line in dirty.stdout.splitlines()]
    return head.stdout.strip() + (f" + uncommitted {', '.join(changed)}" if changed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 repetition of 1 s, idle 1000 only (~2 min)")
    scenario_help = f"comma list of {','.join(SCENARIOS)},idle,client; 'all' (default) or 'none'"
    parser.add_argument("--scenarios", default="all", help=scenario_help)
    parser.add_argument(
        "--servers", default=",".join(DEFAULT_SERVERS), help=f"comma list of {','.join(SERVERS)}"
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1.5, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--idle-sizes", default=",".join(map(str, IDLE_SIZES)))
    parser.add_argument("--idle-reps", type=int, default=2)
    parser.add_argument("--idle-reps-large", type=int, default=1, help="repetitions above 1 000 sessions")
    parser.add_argument(
        "--idle-interval-ms",
        type=int,
        default=0,
        help="ping interval (default: 1 s, 1 ms per session above 1 000)",
    )
    parser.add_argument("--idle-timeout-ms", type=int, default=5000)
    parser.add_argument(
        "--idle-intervals", type=float, default=2.5, help="ping intervals to hold idle sessions"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help=f"another checkout to serve beside this one as {BASELINE!r} (before/after in one run)",
    )
    parser.add_argument(
        "--client-server", default="raw", choices=sorted(SERVERS), help="server for the client bench"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="results file stem (default: results/<time>)"
    )
    a = parser.parse_args(argv)
    if a.quick:
        a.reps, a.duration, a.warmup, a.idle_reps, a.idle_sizes = 1, 1.0, 0.3, 1, "1000"
    chosen = {s.strip() for s in a.scenarios.split(",") if s.strip()}
    if "all" in chosen:
        chosen = {*SCENARIOS, "idle", "client"}
    unknown = chosen - {*SCENARIOS, "idle", "client", "none"}
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    a.scenarios = [s for s in SCENARIOS if s in chosen]
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    if a.baseline is not None:
        # Another checkout of the project (e.g. `git worktree add /tmp/before <commit>`),
        # served beside this one in every repetition: before/after in one run.
        SERVERS[BASELINE] = ServerSpec(
            BASELINE, _hypercorn("trio", "benchmarks.bench_app:app"), source=a.baseline.resolve()
        )
        if BASELINE not in a.servers:
            a.servers.append(BASELINE)
    if unknown := set(a.servers) - set(SERVERS):
        parser.error(f"unknown servers: {sorted(unknown)}")
    a.idle_sizes = [int(n) for n in a.idle_sizes.split(",") if n.strip()]
    IDLE_SIZES[:] = sorted(set(IDLE_SIZES) | set(a.idle_sizes))

    started = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = a.output or RESULTS / started
    stem.parent.mkdir(parents=True, exist_ok=True)
    log_dir = stem.parent / f"{stem.name}-logs"
    log_dir.mkdir(exist_ok=True)
    meta = {
        "started": started,
        "reps": a.reps,
        "duration": a.duration,
        "warmup": a.warmup,
        "idle_reps": a.idle_reps,
        "idle_interval_ms": a.idle_interval_ms,
        "idle_intervals": a.idle_intervals,
        "client_server": a.client_server,
        "servers": a.servers,
        "python": sys.version.split()[0],
        "git": _git_state(),
        "cpus": os.cpu_count(),
    }
    runs: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        if a.scenarios:
            print(
                f"throughput: {len(a.scenarios)} scenarios x {len(a.servers)} servers x {a.reps} reps",
                flush=True,
            )
            throughput_phase(a, log_dir, runs)
        if "idle" in chosen:
            print(
                f"idle: {a.idle_sizes} sessions x {len(a.servers)} servers x {a.idle_reps} reps", flush=True
            )
            idle_phase(a, log_dir, runs)
        if "client" in chosen:
            print(f"clients against {a.client_server}", flush=True)
            client_phase(a, log_dir, runs)
    finally:
        meta["seconds"] = round(time.monotonic() - t0, 1)
        report = summarize(runs, a.servers, meta)
        Path(f"{stem}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
        Path(f"{stem}.md").write_text(report)
        print()
        print(report)
        print(f"written: {stem}.json, {stem}.md (server logs in {log_dir}); {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
