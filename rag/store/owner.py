"""One process owns an embedded store: a lock file next to it, holding the owner's pid.

The lock is an ``fcntl`` lock, so the kernel releases it when the owner exits, even when killed: a stale file
never blocks the next opener. The pid written into it only makes the refusal say who holds the store.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rag.errors import StoreError

__all__ = ["OwnerLock"]


class OwnerLock:
    """An exclusive, non-blocking lock on ``path``; :meth:`acquire` raises a one-line :class:`StoreError`."""

    def __init__(self, path: Path, *, store: str) -> None:
        self.path = path
        self.store = store
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise StoreError(
                f"the embedded store at {self.store} is in use by {who}: only one process may open it. "
                "Use that server's HTTP API instead, run `rag` against a Qdrant server (RAG_QDRANT__URL), "
                "or stop the server first."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock; the file stays for the next owner
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
