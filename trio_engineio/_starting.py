"""Shielding a task that ``nursery.start()`` runs, without hanging a cancelled start.

A task started with ``nursery.start()`` runs under the *caller's* cancel scopes
until it calls ``task_status.started()``; only then does it move into the target
nursery. When the caller is cancelled before that, trio's ``started()`` leaves
the task where it is (the start was cancelled) and ``start()`` waits for the task
to finish. A task that shielded itself before ``started()`` then never sees that
cancellation: it waits for whoever was to cancel it later, who never gets a
handle on it, and the caller hangs with it.

So a task that must outlive its caller's cancellation turns its shield on only
once it is known to live in the target nursery: :func:`started_then_shield`.
"""

from __future__ import annotations

from typing import TypeVar

import trio

__all__ = ["started_then_shield"]

T = TypeVar("T")


def started_then_shield(task_status: trio.TaskStatus[T], value: T, scope: trio.CancelScope) -> bool:
    """Report ``value`` to the starter, then shield ``scope`` if the task moved to its nursery.

    Returns whether ``scope`` is now shielded. It is not when the starter was
    cancelled before the start completed: the task then stays under the
    starter's cancellation and must end by it, so ``start()`` can return.
    A task run with ``start_soon`` (``TASK_STATUS_IGNORED``) is always shielded.
    """
    task_status.started(value)
    # trio clears eventual_parent_nursery when it moves the task into the target nursery.
    if trio.lowlevel.current_task().eventual_parent_nursery is None:
        scope.shield = True
    return scope.shield
