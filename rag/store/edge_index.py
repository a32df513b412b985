"""Building a Qdrant Edge shard's HNSW index without stopping searches or writes (see :mod:`rag.store.edge`).

The shard's directory under the store's root is named by ``current`` (a one-line file, replaced atomically;
absent means ``shard``, the name of stores written before HNSW builds). A build:

1. under the store's write lock: the live shard is flushed and its directory copied to a new
   ``shard-<time>`` directory; from then on every write is also appended to a journal (:class:`Build`);
2. a child process (:mod:`rag.store.edge_build`) loads the copy, builds HNSW, closes it;
3. the parent loads the built copy and replays the journal on it, first without the lock (writes go on), then
   the rest under the write lock; it records the index in the copy (``rag_hnsw.json``) and flushes it;
4. still under the write lock, with reads held back for a moment (:class:`SwapGate`), ``current`` is pointed at
   the copy and the store serves from it; the old shard is closed and removed.

A crash at any moment leaves ``current`` naming a complete shard holding every acknowledged write (the live
one until step 4, which is one atomic rename): :func:`clean_layout` removes every other shard directory at
open (an unfinished build, or an old shard not yet removed).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "INDEX_FILE",
    "Build",
    "IndexRecord",
    "SwapGate",
    "clean_layout",
    "copy_sparse",
    "copy_tree",
    "current_dir",
    "set_current",
]

log = logging.getLogger(__name__)

_CURRENT_FILE = "current"
_LEGACY_DIR = "shard"
INDEX_FILE = "rag_hnsw.json"  # inside a shard directory: the index it holds (moves with it)


def copy_sparse(src: str, dst: str) -> str:
    """Copy a file's data and leave its holes as holes (``shutil.copy2`` otherwise, with the same metadata).

    Edge preallocates its files sparsely (32 MB each where a few KB are written): a plain copy writes every
    zero, which is most of the time and disk a shard copy takes. The data ranges are found with ``SEEK_DATA`` /
    ``SEEK_HOLE``; a file system without them reports the whole file as data, which is a plain copy.
    """
    if not hasattr(os, "SEEK_DATA"):
        return str(shutil.copy2(src, dst))
    with open(src, "rb") as source, open(dst, "wb") as target:
        size = os.fstat(source.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(source.fileno(), offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(source.fileno(), start, os.SEEK_HOLE)
            source.seek(start)
            target.seek(start)
            remaining = end - start
            while remaining:
                block = source.read(min(remaining, 1 << 20))
                if not block:
                    break
                target.write(block)
                remaining -= len(block)
            offset = end
        target.truncate(size)
    shutil.copystat(src, dst)
    return dst


def copy_tree(src: Path, dst: Path) -> None:
    """A shard directory copied with :func:`copy_sparse` (links kept as links)."""
    shutil.copytree(src, dst, symlinks=True, copy_function=copy_sparse)


class SwapGate:
    """Reads pass freely, except during a swap of shards, which waits for the reads in progress to finish."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._swapping = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._swapping:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def swap(self) -> Iterator[None]:
        with self._cond:
            while self._swapping:
                self._cond.wait()
            self._swapping = True  # new readers wait from now on
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._swapping = False
                self._cond.notify_all()


@dataclass(frozen=True, slots=True)
class IndexRecord:
    """The HNSW index a shard holds: built over ``points`` points with these parameters."""

    points: int
    m: int
    ef_construct: int
    built_at: str

    @classmethod
    def read(cls, shard_dir: Path) -> IndexRecord | None:
        try:
            data = json.loads((shard_dir / INDEX_FILE).read_text())
            return cls(int(data["points"]), int(data["m"]), int(data["ef_construct"]), str(data["built_at"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable %s in %s (%s): searching exactly until the next build", INDEX_FILE, shard_dir, exc)
            return None

    def write(self, shard_dir: Path) -> None:
        data = {"points": self.points, "m": self.m, "ef_construct": self.ef_construct, "built_at": self.built_at}
        write_atomically(shard_dir / INDEX_FILE, json.dumps(data))


# -- layout ------------------------------------------------------------------------------------------


def current_dir(root: Path) -> Path:
    """The directory of the live shard."""
    try:
        name = (root / _CURRENT_FILE).read_text().strip()
    except FileNotFoundError:
        name = _LEGACY_DIR
    return root / (name or _LEGACY_DIR)


def set_current(root: Path, shard_dir: Path) -> None:
    """Point ``current`` at ``shard_dir`` (one atomic rename: a crash leaves the old name or the new one)."""
    write_atomically(root / _CURRENT_FILE, shard_dir.name)


def clean_layout(root: Path) -> list[str]:
    """Remove every shard directory but the current one (killed builds, old shards); returns their names."""
    keep = current_dir(root).name
    removed = []
    for path in sorted(root.glob("shard*")):
        if path.is_dir() and path.name != keep:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def new_shard_dir(root: Path) -> Path:
    return root / f"shard-{time.time_ns()}"


# -- one build ---------------------------------------------------------------------------------------


@dataclass
class Build:
    """One HNSW build in progress: its directory, child process and the journal of writes made since the copy."""

    directory: Path
    spec: dict[str, Any]
    points: int
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    journal: list[Any] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    cancelled: bool = False

    def record(self, operation: Any) -> None:
        """A write made on the live shard since the copy (under the store's write lock)."""
        self.journal.append(operation)

    def run_child(self) -> tuple[int, str]:
        """Build the index in a child process; returns its exit status and the end of what it wrote."""
        script = Path(__file__).with_name("edge_build.py")
        command = [sys.executable, "-P", str(script), str(self.directory), json.dumps(self.spec), str(os.getpid())]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = self.process.communicate()
        return self.process.returncode, err.decode("utf-8", "replace").strip()[-500:]

    def cancel(self) -> None:
        self.cancelled = True
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
