"""Introspection for profiling runs (``EIO_BENCH_DEBUG=1``): the text message ``#stats``.

The reply is ``#`` + JSON: live trio tasks by name, gc-tracked objects by type and,
when the server runs with ``PYTHONTRACEMALLOC=1``, the allocations that grew since
the first ``#stats`` (by source line). Only the profiling tools send it.
"""

from __future__ import annotations

import gc
import json
import os
import tracemalloc
from collections import Counter
from typing import Any

ENABLED = os.environ.get("EIO_BENCH_DEBUG") == "1"
_first_snapshot: tracemalloc.Snapshot | None = None


def _task_names() -> Counter[str]:
    import trio

    names: Counter[str] = Counter()
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None:
            continue
        names[task.name] += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return names


def census() -> str:
    global _first_snapshot
    gc.collect()
    types: Counter[str] = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
    result: dict[str, Any] = {"tasks": dict(_task_names()), "objects": dict(types)}
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if _first_snapshot is None:
            _first_snapshot = snapshot
        else:
            result["grown"] = [
                [str(stat.traceback[0]), stat.size_diff, stat.count_diff]
                for stat in snapshot.compare_to(_first_snapshot, "lineno")[:40]
            ]
        result["traced_bytes"] = tracemalloc.get_traced_memory()[0]
    return "#" + json.dumps(result)
