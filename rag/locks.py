"""A lock that lets queries go first: the API runs searches and ingest jobs on the same models and store.

Ingest holds a model (or the embedded store) for many short turns, one model batch (or one upsert batch) at a
time; between two turns, a waiting query takes the lock before the next turn. A query therefore waits for at
most one ingest turn, never for a whole ingest flush. So that a steady stream of queries cannot stop an
ingest, an ordinary waiter goes next once ``max_skips`` urgent holders have gone before it. The lock is
reentrant for the thread that holds it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PriorityLock"]


class PriorityLock:
    """Mutual exclusion where ``urgent`` holders (queries) are served before the others (ingest)."""

    def __init__(self, *, max_skips: int = 4) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0
        self._ordinary_waiting = 0
        self._max_skips = max_skips
        self._skips = 0  # urgent holders that went before a waiting ordinary one since it last had a turn
        self._urgent_at = -float("inf")  # when an urgent holder last asked for the lock (time.monotonic)

    @contextmanager
    def hold(self, *, urgent: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
            else:
                if urgent:
                    self._urgent_waiting += 1
                    self._urgent_at = time.monotonic()
                else:
                    self._ordinary_waiting += 1
                try:
                    while self._owner is not None or not self._may_go(urgent):
                        self._cond.wait()
                finally:
                    if urgent:
                        self._urgent_waiting -= 1
                    else:
                        self._ordinary_waiting -= 1
                if urgent and self._ordinary_waiting:
                    self._skips += 1
                elif not urgent:
                    self._skips = 0
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._cond.notify_all()

    def _may_go(self, urgent: bool) -> bool:
        """With the lock free: whether a waiter of this kind may take it now."""
        starving = self._ordinary_waiting > 0 and self._skips >= self._max_skips
        return not starving if urgent else not self._urgent_waiting or starving

    def urgent_since(self, seconds: float) -> bool:
        """Whether an urgent holder (a query) is waiting now or asked for the lock within ``seconds``."""
        return self._urgent_waiting > 0 or time.monotonic() - self._urgent_at < seconds

    @property
    def urgent_waiting(self) -> int:
        """Queries waiting for the lock now (a long ingest turn can check it and yield early)."""
        return self._urgent_waiting
