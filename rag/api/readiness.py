"""The server's connection to the store: made in the background, remade when lost, and its state for /readyz.

The server starts even when Qdrant cannot be reached: the models load, ``/healthz`` answers, and ``/readyz``
and every route that needs the store answer 503 with the reason, while one background thread connects
(``RAG.ensure_collection``: the collection is created or its schema checked) with capped exponential backoff.
Only :class:`StoreUnavailableError` (refused, reset, timed out) is retried; an error that retrying cannot fix
(a schema mismatch, an embedded store another process holds) is reported the same way until a restart.
Requests never retry: they fail fast while the store is down, and one that finds the connection lost hands
it back to the thread (:meth:`StoreConnection.lost`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tenacity import Retrying, retry_if_exception_type, wait_exponential_jitter

from rag.errors import RagError, StoreUnavailableError

__all__ = ["StoreConnection"]

log = logging.getLogger(__name__)

_FIRST_WAIT_S = 0.5
_JOIN_S = 2.0


class _Stopped(Exception):
    """The server is shutting down: no further attempt."""


class StoreConnection:
    """Connects with ``connect`` (retried on transient errors) and says whether the store can be used."""

    def __init__(self, connect: Callable[[], object], *, max_wait_s: float) -> None:
        self._connect = connect
        self._max_wait_s = max_wait_s
        self._problem: str | None = "connecting to the store"
        self._final = False  # an error that retrying cannot fix
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def problem(self) -> str | None:
        """None when the store can be used; otherwise why not, as shown to clients (no address, no secret)."""
        return self._problem

    def connect(self) -> None:
        """One attempt now, in the caller's thread (the embedded store: a local directory, tried at start)."""
        try:
            self._attempt()
        except StoreUnavailableError as exc:
            self._down(exc)
        except RagError as exc:
            self._fail(exc)
        else:
            self._up()

    def start(self) -> None:
        """Start the background thread: it connects (unless :meth:`connect` already did) and reconnects."""
        self._thread = threading.Thread(target=self._run, name="store-connection", daemon=True)
        self._thread.start()

    def lost(self, reason: str) -> None:
        """A request or a check found the store unreachable: fail fast from now on, reconnect in the background."""
        if self._problem is None:
            self._problem = _retrying(reason)
            log.warning("lost the store: %s; reconnecting in the background", reason)
            self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(_JOIN_S)  # an attempt in flight ends at the client's timeout; the thread is a daemon

    # -- background ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set() and not self._final:
            if self._problem is None:
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                self._reconnect()
            except _Stopped:
                return
            except RagError as exc:
                self._fail(exc)
            except Exception as exc:  # the thread's boundary: report it, never die silently
                log.exception("connecting to the store failed unexpectedly")
                self._fail(exc, reason=f"unexpected error ({type(exc).__name__}; the server log has the details)")
            else:
                self._up()

    def _reconnect(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(StoreUnavailableError),
            wait=wait_exponential_jitter(multiplier=_FIRST_WAIT_S, max=self._max_wait_s, jitter=_FIRST_WAIT_S),
            sleep=self._sleep,
            before_sleep=lambda state: self._down(state.outcome.exception() if state.outcome else None),
            reraise=True,
        )
        retrying(self._attempt)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)  # woken at shutdown

    def _attempt(self) -> None:
        if self._stop.is_set():
            raise _Stopped
        self._connect()

    # -- state -----------------------------------------------------------------------------------

    def _up(self) -> None:
        if self._problem is not None:
            log.info("store connected")
        self._problem = None

    def _down(self, exc: BaseException | None) -> None:
        reason = exc.reason if isinstance(exc, StoreUnavailableError) else "unknown error"
        problem = _retrying(reason)
        if problem != self._problem:
            log.warning("%s; retrying in the background", exc)
        self._problem = problem

    def _fail(self, exc: Exception, *, reason: str | None = None) -> None:
        self._final = True
        self._problem = reason or str(exc)
        log.error("the store cannot be used: %s (restart the server once this is fixed)", exc)


def _retrying(reason: str) -> str:
    return f"Qdrant cannot be reached ({reason}); reconnecting in the background"
