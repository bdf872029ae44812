"""Where our server's time and memory go: ``python -m benchmarks.profile``.

* CPU: py-spy samples the server (``--nonblocking``) while the generator runs the
  websocket echo scenario (50 sessions, 32 B) and the idle scenario (1 s pings);
  the same for the raw app, for comparison. Reported: the functions with the most
  samples on-CPU (self) and on the stack (inclusive), by function.
* Memory: the server runs with ``EIO_BENCH_DEBUG=1 PYTHONTRACEMALLOC=1``; the
  generator asks it for ``#stats`` before and after opening idle sessions: trio tasks
  and gc-tracked objects per session, and the source lines whose allocations grew.

Writes ``benchmarks/results/profile-<time>.md`` (and the raw py-spy files) and prints it.
Needs py-spy (``pip install py-spy``; it must be allowed to ptrace the server).
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .__main__ import BIN, CLIENT_CORE, RESULTS, SCENARIOS, SERVERS, RunningServer, _pin, run_json

_LINE = re.compile(r":\d+\)$")
_PREFIX = re.compile(r"/\S*/(site-packages|lib/python3\.\d+)/")
#: Frames under which everything runs: not worth a row in the inclusive table.
_ROOTS = ("<module> ", "main (hypercorn/", "run (hypercorn/", "trio_worker ", "run (trio/", "unrolled_run ")


def _short(where: str) -> str:
    """Drop the site-packages / stdlib / repository prefix of a path."""
    return _PREFIX.sub("", where).replace(str(Path(__file__).resolve().parent.parent) + "/", "")


def _function(frame: str) -> str:
    """``"send (/.../trio/_core/_run.py:123)"`` -> ``"send (trio/_core/_run.py)"``."""
    return _short(_LINE.sub(")", frame))


def parse_pyspy(path: Path, top: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Total samples and the top functions by self and by inclusive samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            if not name.startswith(_ROOTS):
                inclusive[name] += count
    return total, own.most_common(top), inclusive.most_common(top)


def _pyspy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    pyspy = shutil.which("py-spy") or str(BIN / "py-spy")
    argv = [*_pin(CLIENT_CORE), pyspy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds)))]
    # Blocking sampling: --nonblocking gave truncated stacks on this machine.
    argv += ["--rate", "250", "--format", "raw", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def cpu_profile(app: str, scenario: str, a: argparse.Namespace, log_dir: Path, lines: list[str]) -> None:
    idle = scenario == "idle"
    env = {
        "EIO_PING_INTERVAL_MS": "1000" if idle else "25000",
        "EIO_PING_TIMEOUT_MS": "5000" if idle else "20000",
    }
    server = RunningServer(SERVERS[app], env, log_dir)
    out = log_dir.parent / f"{log_dir.name.removesuffix('-logs')}-pyspy-{app}-{scenario}.txt"
    mark = Path(tempfile.mkdtemp()) / "hold"
    try:
        if idle:
            args = [
                "idle",
                "--sessions",
                str(a.sessions),
                "--warmup",
                "0.5",
                "--duration",
                str(a.seconds + 1),
            ]
            args += ["--mark-file", str(mark)]
        elif scenario in SCENARIOS:  # a scenario of the full run, e.g. ws_latency
            args = [*SCENARIOS[scenario].args, "--warmup", "1", "--duration", str(a.seconds)]
        else:
            args = [scenario, "--warmup", "1", "--duration", str(a.seconds)]
            if scenario == "ws_echo":
                args += ["--sessions", "50", "--size", "32"]
        args += ["--port", str(server.port), "--server-pid", str(server.pid)]
        gen = subprocess.Popen(
            [*_pin(CLIENT_CORE), sys.executable, "-m", "benchmarks.loadgen", *args],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if idle:
            while not mark.exists() and gen.poll() is None:
                time.sleep(0.05)
        else:
            time.sleep(1.5)
        spy = _pyspy(server.pid, a.seconds - 1, out)
        _, spy_err = spy.communicate(timeout=a.seconds + 30)
        gen_out, _ = gen.communicate(timeout=120)
    finally:
        server.stop()
    lines += [f"### {app}: {scenario}", ""]
    if not out.exists():
        lines += [f"py-spy failed: {spy_err.decode(errors='replace')[-500:]}", ""]
        return
    total, own, inclusive = parse_pyspy(out, a.top)
    result = gen_out.decode().strip().splitlines()[-1] if gen_out.strip() else "{}"
    lines += [
        f"generator: `{result[:400]}`",
        "",
        f"{total} samples on CPU (py-spy at 250 Hz, idle excluded; inclusive % leaves out the root frames)",
        "",
    ]
    lines += ["| self % | function | | incl. % | function |", "|---|---|---|---|---|"]
    for i in range(max(len(own), len(inclusive))):
        left = own[i] if i < len(own) else ("", 0)
        right = inclusive[i] if i < len(inclusive) else ("", 0)
        lines.append(
            f"| {100 * left[1] / total:.1f} | `{left[0]}` | | {100 * right[1] / total:.1f} | `{right[0]}` |"
        )
    lines.append("")


def _per_session(before: dict[str, int], after: dict[str, int], n: int, top: int) -> list[tuple[str, float]]:
    keys = set(before) | set(after)
    deltas = [(k, (after.get(k, 0) - before.get(k, 0)) / n) for k in keys]
    return sorted((d for d in deltas if abs(d[1]) >= 0.01), key=lambda d: -abs(d[1]))[:top]


def memory_census(app: str, a: argparse.Namespace, log_dir: Path, lines: list[str]) -> None:
    env = {
        # The census blocks the server for seconds (gc walk, tracemalloc snapshot): a long
        # ping timeout keeps the sessions, and the one asking, alive meanwhile.
        "EIO_PING_INTERVAL_MS": "1000",
        "EIO_PING_TIMEOUT_MS": "60000",
        "EIO_BENCH_DEBUG": "1",
        "PYTHONTRACEMALLOC": "1",
    }
    server = RunningServer(SERVERS[app], env, log_dir)
    try:
        result = run_json(
            ["-m", "benchmarks.loadgen", "census", "--sessions", str(a.sessions), "--duration", "2.5",
             "--port", str(server.port), "--server-pid", str(server.pid)],
            timeout=180,
        )  # fmt: skip
    finally:
        server.stop()
    lines += [f"### {app}: {a.sessions} idle websocket sessions", ""]
    if "failed" in result:
        lines += [f"census failed: {result['failed']}", ""]
        return
    n = result["sessions"]
    before, after = result["before"], result["after"]
    tasks = _per_session(before["tasks"], after["tasks"], n, a.top)
    lines.append(
        f"RSS per session (with tracemalloc on, so inflated): {result['rss_per_session'] / 1024:.1f} KiB; "
        f"traced Python allocations per session: "
        f"{(after.get('traced_bytes', 0) - before.get('traced_bytes', 0)) / n / 1024:.1f} KiB; "
        f"trio tasks per session: {sum(after['tasks'].values()) - sum(before['tasks'].values())} / {n} = "
        f"{(sum(after['tasks'].values()) - sum(before['tasks'].values())) / n:.2f}; "
        f"gc-tracked objects per session: "
        f"{(sum(after['objects'].values()) - sum(before['objects'].values())) / n:.1f}"
    )
    lines += ["", "Tasks per session: " + ", ".join(f"`{k}` {v:.2f}" for k, v in tasks), ""]
    lines += ["| objects/session | type |", "|---|---|"]
    lines += [f"| {v:.2f} | `{k}` |" for k, v in _per_session(before["objects"], after["objects"], n, a.top)]
    grown: list[Any] = after.get("grown", [])
    if grown:
        lines += ["", "| bytes/session | allocations/session | source line |", "|---|---|---|"]
        for where, size, count in grown[: a.top]:
            lines.append(f"| {size / n:.0f} | {count / n:.2f} | `{_short(where)}` |")
    lines.append("")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", default="trio_engineio,raw", help="servers to profile")
    parser.add_argument("--seconds", type=float, default=6, help="seconds sampled per profile")
    parser.add_argument("--sessions", type=int, default=1000, help="idle sessions")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--scenarios",
        default="ws_echo,idle",
        help="loadgen scenarios to sample (ws_echo, idle, ws_connect, poll_echo, ws_s2c, ...)",
    )
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    a = parser.parse_args(argv)
    started = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / f"profile-{started}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# Profile {started}", ""]
    apps = [s.strip() for s in a.apps.split(",") if s.strip()]
    if not a.skip_cpu:
        lines += ["## CPU", ""]
        for scenario in [s.strip() for s in a.scenarios.split(",") if s.strip()]:
            for app in apps:
                print(f"cpu: {app} {scenario}", flush=True)
                cpu_profile(app, scenario, a, log_dir, lines)
    if not a.skip_memory:
        lines += ["## Memory per idle session", ""]
        for app in apps:
            print(f"memory: {app}", flush=True)
            memory_census(app, a, log_dir, lines)
    report = "\n".join(lines) + "\n"
    path = RESULTS / f"profile-{started}.md"
    path.write_text(report)
    print(report)
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
