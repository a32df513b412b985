"""The child process that builds a Qdrant Edge shard's HNSW index: ``python -P edge_build.py DIR SPEC_JSON``.

``EdgeShard.optimize()`` holds the GIL for its whole run (minutes at 100k points), which would stop every
thread of the server; in a child process it stops nothing. The child loads a copy of the shard (``DIR``)
with the HNSW and optimizer settings of ``SPEC_JSON``, optimizes it and closes it; the parent replays what
was written meanwhile and swaps it in (:mod:`rag.store.edge_index`).

This file imports only the standard library and ``qdrant_edge`` and is run by path with ``-P`` (so that
neither the ``rag`` package nor this directory is imported): the child starts in a fraction of a second.
It asks the kernel to kill it when its parent dies (Linux), so that no orphan keeps writing into a folder
the next opener of the store removes, and runs at a lower priority than the searches it shares the CPUs with.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        sys.exit(3)


def build(path: str, spec: dict[str, Any]) -> None:
    """Load the shard at ``path`` with ``spec``'s HNSW settings, build the index, close it."""
    import qdrant_edge as q

    hnsw = q.HnswIndexConfig(
        m=int(spec["m"]),
        ef_construct=int(spec["ef_construct"]),
        full_scan_threshold=int(spec["full_scan_threshold_kb"]),
        max_indexing_threads=int(spec.get("threads", 1)),
    )
    config = q.EdgeConfig(
        vectors={
            name: q.EdgeVectorParams(size=int(dim), distance=q.Distance.Cosine) for name, dim in spec["vectors"].items()
        },
        sparse_vectors={name: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf) for name in spec["sparse"]} or None,
        hnsw_config=hnsw,
        optimizers=q.EdgeOptimizersConfig(indexing_threshold=int(spec["indexing_threshold_kb"])),
    )
    shard = q.EdgeShard.load(path, config)
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()


def main(argv: list[str]) -> int:
    path, spec_json, parent = argv[0], argv[1], int(argv[2])
    _die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.nice(int(json.loads(spec_json).get("nice", 10)))
    build(path, json.loads(spec_json))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
