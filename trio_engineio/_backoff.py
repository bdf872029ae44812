"""The reconnection schedule both clients share (Engine.IO ``Client`` and Socket.IO ``Client``).

socket.io-client's and python-socketio's options and formula: retry number ``n`` (from 1)
waits ``reconnection_delay * 2 ** (n - 1)`` seconds, capped at ``reconnection_delay_max``,
then moved by up to ``± randomization_factor`` of itself so that clients cut off together
do not all come back in the same instant. ``reconnection_attempts`` retries at most
(0: no limit). Pure arithmetic: the caller sleeps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Backoff", "backoff_delay"]


def backoff_delay(
    attempt: int,
    delay: float,
    delay_max: float,
    randomization_factor: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    base: float = min(delay * 2 ** (attempt - 1), delay_max)
    base += randomization_factor * (2 * rand() - 1) * base
    return float(max(base, 0.0))


def _check_seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not 0 <= value < math.inf:  # also refuses NaN
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")


@dataclass(frozen=True)
class Backoff:
    """The reconnection options, checked, with the schedule they give.

    Raises :class:`TypeError` or :class:`ValueError` (naming the option) for a value
    of the wrong type or out of range.
    """

    #: Retries before giving up; 0 retries for ever.
    reconnection_attempts: int = 0
    #: Seconds before the first retry, doubled for each further one...
    reconnection_delay: float = 1.0
    #: ...up to this many seconds.
    reconnection_delay_max: float = 5.0
    #: Each wait is moved by up to this fraction of itself, at random (0 to 1).
    randomization_factor: float = 0.5

    def __post_init__(self) -> None:
        attempts = self.reconnection_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int):
            raise TypeError(f"reconnection_attempts must be an int, not {type(attempts).__name__}")
        if attempts < 0:
            raise ValueError(f"reconnection_attempts must be 0 (no limit) or more, not {attempts!r}")
        _check_seconds("reconnection_delay", self.reconnection_delay)
        _check_seconds("reconnection_delay_max", self.reconnection_delay_max)
        factor = self.randomization_factor
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise TypeError(f"randomization_factor must be a number, not {type(factor).__name__}")
        if not 0 <= factor <= 1:
            raise ValueError(f"randomization_factor must be between 0 and 1, not {factor!r}")

    def gives_up(self, attempt: int) -> bool:
        """Whether retry number ``attempt`` (from 1) is beyond ``reconnection_attempts``."""
        return bool(self.reconnection_attempts) and attempt > self.reconnection_attempts

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt`` (from 1)."""
        return backoff_delay(
            attempt,
            self.reconnection_delay,
            self.reconnection_delay_max,
            self.randomization_factor,
            rand,
        )
