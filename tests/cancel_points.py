"""Cancelling code at each of its checkpoints in turn, the way trio's own tests do it.

:class:`CancelAtStep` is a trio instrument: it counts the scheduler steps of the
tasks it watches and cancels a scope just before the n-th one runs, so that
step's first checkpoint (or, for a step that has none, the next one) raises
``Cancelled``. Running the same code for n = 1, 2, ... until the instrument no
longer fires cancels it at every point where it gives control back to trio.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

TaskFilter = Callable[[trio.lowlevel.Task], bool]


class CancelAtStep(trio.abc.Instrument):
    """Cancel ``scope`` before the ``step``-th scheduler step of a task ``watch`` accepts.

    ``scope`` may also be a function of the task about to step, that cancels
    what it chooses (e.g. the scope that task runs a request under).
    """

    def __init__(
        self,
        scope: trio.CancelScope | Callable[[trio.lowlevel.Task], None],
        step: int,
        watch: TaskFilter,
    ) -> None:
        self.cancel: Callable[[trio.lowlevel.Task], None] = (
            (lambda task: scope.cancel()) if isinstance(scope, trio.CancelScope) else scope
        )
        self.step = step
        self.watch = watch
        self.steps = 0
        #: ``trio.current_time()`` when the scope was cancelled (``None``: the code ran out of steps first).
        self.fired_at: float | None = None

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        """Count the watched tasks' steps; cancel on the chosen one."""
        if self.fired_at is not None or not self.watch(task):
            return
        self.steps += 1
        if self.steps == self.step:
            self.fired_at = trio.current_time()
            self.cancel(task)


def named(suffix: str) -> TaskFilter:
    """Watch the tasks whose name ends with ``suffix`` (trio names a task after its function)."""
    return lambda task: task.name.endswith(suffix)


def descendants(task: trio.lowlevel.Task) -> list[trio.lowlevel.Task]:
    """Every task below ``task`` (to check that nothing was left behind)."""
    found: list[trio.lowlevel.Task] = []
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            found.append(child)
            found.extend(descendants(child))
    return found
