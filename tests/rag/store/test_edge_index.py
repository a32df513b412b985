"""The Edge store's HNSW index: built in a child process while searches and writes go on, the writes made
meanwhile replayed onto the built copy, the copy swapped in; a kill at any moment (of the child or of the
store's own process) leaves a loadable store holding every acknowledged write."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import QdrantSettings
from rag.store import CollectionSchema, EdgeStore, PointRecord, StoreFilter, VectorSchema, point_id
from rag.store.edge_index import Build, copy_sparse, copy_tree

DIM = 8
SCHEMA = CollectionSchema((VectorSchema("text", DIM, "text-model"),))
ROOT = Path(__file__).resolve().parents[3]


def _points(start: int, stop: int, *, seed: int = 0) -> list[PointRecord]:
    rng = np.random.default_rng(seed + start)
    vectors = rng.standard_normal((stop - start, DIM)).astype(np.float32)
    return [
        PointRecord(
            point_id("a", f"/d{i}", "h", "c"),
            {"text": vectors[i - start]},
            {"tenant": "a", "source_id": f"/d{i}", "content_hash": "h", "kind": "text", "modality": "text"},
        )
        for i in range(start, stop)
    ]


def _open(path: Path, **settings: Any) -> EdgeStore:
    store = EdgeStore(QdrantSettings(collection="t", **{"exact_below": 100, **settings}), path=path)
    store.open()
    return store


def _dump(store: EdgeStore) -> dict[str, tuple[Any, list[float]]]:
    return {
        p.id: (json.dumps(p.payload, sort_keys=True), np.round(np.asarray(p.vectors["text"]), 5).tolist())
        for p in store.points(vectors=True)
    }


@pytest.fixture
def held_child(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The build's child starts only once the returned event is set (writes and searches go on meanwhile)."""
    go = threading.Event()
    real = Build.run_child

    def run_child(self: Build) -> tuple[int, str]:
        go.wait(60)
        return real(self)

    monkeypatch.setattr(Build, "run_child", run_child)
    return go


def test_writes_made_during_a_build_are_replayed_onto_the_index_and_survive_a_reopen(
    tmp_path: Path, held_child: threading.Event
):
    store = _open(tmp_path)
    store.ensure_collection(SCHEMA)
    store.upsert(_points(0, 2000))
    assert store.index_state() == "exact search (2000 points)"
    assert store.build_index()
    assert not store.build_index()  # one at a time
    assert store.index_state().startswith("building HNSW index (started ")

    # every kind of write, while the build is in progress: upserts (new and overwritten), a filtered delete,
    # the unfinished flag set by filter and removed by ids and by filter
    store.upsert(_points(2000, 2300))
    store.upsert(_points(0, 50, seed=7))
    store.delete_source("a", "/d60")
    store.hide_stale_many("a", {"/d70": "other", "/d71": "other"})
    store.publish([point_id("a", "/d70", "h", "c")])
    store.publish_version("a", "/d71", "h")
    store.hide_stale_many("a", {"/d80": "other"})
    expected = _dump(store)
    assert len(expected) == 2299

    held_child.set()
    assert store.wait_for_index(120)
    assert store.index_state() == "HNSW index (2299 points, 2000 indexed)"
    assert _dump(store) == expected
    assert store.count("a") == 2298  # /d80 is hidden
    # the index answers: a stored vector finds its own point first, in the indexed part and in the replayed one
    for number in (5, 2100):
        vec = np.asarray(store.retrieve([point_id("a", f"/d{number}", "h", "c")], vectors=True)[0].vectors["text"])
        hits = store.search({"text": vec}, where=StoreFilter(tenant="a"), limit=3, prefetch_limit=10)
        assert hits[0].id == point_id("a", f"/d{number}", "h", "c")
    assert not store._exact()
    store.close()

    store = _open(tmp_path)
    assert _dump(store) == expected
    assert store.index_state() == "HNSW index (2299 points, 2000 indexed)"
    assert sorted(p.name for p in store.root.glob("shard*")) == [store._shard_dir.name]  # the old shard is gone
    store.close()


def test_searches_and_writes_are_answered_while_the_child_builds(tmp_path: Path):
    store = _open(tmp_path)
    store.ensure_collection(SCHEMA)
    store.upsert(_points(0, 3000))
    assert store.build_index()
    build = store._build
    assert build is not None
    while build.process is None:  # the child is being started
        threading.Event().wait(0.01)
    os.kill(build.process.pid, signal.SIGSTOP)  # the child is mid-build for as long as the test wants
    try:
        query = {"text": np.ones(DIM, dtype=np.float32)}
        for _ in range(5):
            assert len(store.search(query, where=StoreFilter(tenant="a"), limit=5, prefetch_limit=10)) == 5
        store.upsert(_points(3000, 3010))
        assert store.total() == 3010
        assert build.process.poll() is None and store.index_state().startswith("building HNSW index")
    finally:
        os.kill(build.process.pid, signal.SIGCONT)
    answered = 0
    while store._build is not None:  # and while it runs (how many depends on the machine: not asserted)
        store.search(query, where=StoreFilter(tenant="a"), limit=5, prefetch_limit=10)
        answered += 1
    assert store.wait_for_index(120)
    assert store.index_state() == "HNSW index (3010 points, 3000 indexed)"
    store.close()


def test_a_killed_child_leaves_the_store_searching_exactly_and_a_later_build_succeeds(tmp_path: Path):
    store = _open(tmp_path)
    store.ensure_collection(SCHEMA)
    store.upsert(_points(0, 1000))
    assert store.build_index()
    build = store._build
    assert build is not None
    while build.process is None:
        threading.Event().wait(0.01)
    build.process.kill()
    assert store.wait_for_index(60)
    assert store._build is None and store.index_state() == "exact search (1000 points)"
    assert [p.name for p in store.root.glob("shard*")] == [store._shard_dir.name]  # the build's copy is gone
    store.upsert(_points(1000, 1100))
    assert store.build_index() and store.wait_for_index(120)
    assert store.index_state() == "HNSW index (1100 points, 1100 indexed)"
    store.close()


def test_an_ingest_past_the_threshold_starts_a_build_and_a_small_store_starts_none(tmp_path: Path):
    store = _open(tmp_path, exact_below=500)
    store.ensure_collection(SCHEMA)
    store.upsert(_points(0, 400))
    store.publish([p.id for p in _points(0, 10)])
    assert store._build is None  # 400 points: exact search is fast enough
    store.upsert(_points(400, 800))
    store.publish([p.id for p in _points(400, 410)])
    assert store._build is not None or store._index is not None
    assert store.wait_for_index(120)
    store.upsert(_points(800, 850))  # 50 of 850 not indexed: not worth a new build
    store.publish([p.id for p in _points(800, 810)])
    assert store._build is None and store.index_state() == "HNSW index (850 points, 800 indexed)"
    store.close()


# A process that writes points, starts a build and kills itself at a chosen moment; it prints every point
# number whose write returned (acknowledged) before it died.
_KILLED = textwrap.dedent(
    """
    import os, signal, sys, threading
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from rag.store import edge
    from rag.store.edge_index import Build
    from test_edge_index import _open, _points, SCHEMA

    moment = sys.argv[1]
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    if moment == "replay":
        real_replay = edge._replay
        edge._replay = lambda shard, journal, start: (real_replay(shard, journal[: start + 1], start), die())
    if moment == "commit":
        edge.set_current = lambda root, shard_dir: die()
    if moment == "after-commit":
        real_set = edge.set_current
        edge.set_current = lambda root, shard_dir: (real_set(root, shard_dir), die())
    if moment == "child":  # killed while the child builds (stopped first, so that it cannot finish before)
        real_child = Build.run_child
        def kill_mid_build(build):
            config = build.directory / "edge_config.json"
            while build.process is None or "hnsw_config" not in config.read_text():  # the child loaded the copy
                threading.Event().wait(0.01)
            os.kill(build.process.pid, signal.SIGSTOP)
            sys.stdout.write(f"child {{build.process.pid}}\\n")  # one write: threads print at once
            sys.stdout.flush()
            die()
        def run_child(self):
            threading.Thread(target=kill_mid_build, args=(self,)).start()
            return real_child(self)
        Build.run_child = run_child
    store = _open(Path(sys.argv[2]))
    store.ensure_collection(SCHEMA)
    store.upsert(_points(0, 1000))
    print("ack", 1000, flush=True)
    store.build_index()
    for start in range(1000, 5000, 20):
        store.upsert(_points(start, start + 20))
        print("ack", start + 20, flush=True)
        if moment != "child" and store._build is None:
            break
    store.wait_for_index(120)
    """
)


@pytest.mark.integration  # a store in a fresh Python process, killed
@pytest.mark.parametrize("moment", ["child", "replay", "commit", "after-commit"])
def test_a_kill_of_the_store_process_during_a_build_loses_no_acknowledged_write(tmp_path: Path, moment: str):
    script = _KILLED.format(tests=str(Path(__file__).parent))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, moment, str(tmp_path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    acknowledged = max(int(n) for n in re.findall(r"ack (\d+)", done.stdout))

    store = _open(tmp_path)
    ids = {p.id for p in store.points(vectors=False)}
    assert {p.id for p in _points(0, acknowledged)} <= ids  # every acknowledged write (and maybe the next batch)
    assert [p.name for p in store.root.glob("shard*")] == [store._shard_dir.name]  # leftovers removed
    assert store.index_state() == ("HNSW index" if moment == "after-commit" else "exact search") + (
        f" ({len(ids)} points, 1000 indexed)" if moment == "after-commit" else f" ({len(ids)} points)"
    )
    vec = np.asarray(store.retrieve([_points(0, 1)[0].id], vectors=True)[0].vectors["text"])
    assert (
        store.search({"text": vec}, where=StoreFilter(tenant="a"), limit=1, prefetch_limit=5)[0].id
        == _points(0, 1)[0].id
    )
    store.close()
    if moment == "child":  # the child died with its parent (it would otherwise write into a removed folder)
        pid = int(re.findall(r"child (\d+)", done.stdout)[0])
        for _ in range(500):
            if not _alive(pid):
                break
            threading.Event().wait(0.02)
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text().split(")")[1].split()[0] == "Z")


def test_a_shard_copy_keeps_the_data_and_leaves_the_holes(tmp_path: Path):
    mb = 1 << 20
    source = tmp_path / "src"
    source.mkdir()
    with open(source / "sparse.dat", "wb") as f:  # data, an 8 MB hole, data, and a hole at the end
        f.write(b"head" * 1000)
        f.seek(8 * mb)
        f.write(os.urandom(70_000))
        f.truncate(32 * mb)
    (source / "empty").write_bytes(b"")
    (source / "segments").mkdir()
    (source / "segments" / "plain.bin").write_bytes(os.urandom(3 * mb + 5))
    os.symlink("plain.bin", source / "segments" / "link")
    copy = tmp_path / "copy"
    copy_tree(source, copy)
    for name in ("sparse.dat", "empty", "segments/plain.bin"):
        assert (copy / name).read_bytes() == (source / name).read_bytes(), name
    assert os.readlink(copy / "segments" / "link") == "plain.bin"
    allocated = os.stat(copy / "sparse.dat").st_blocks * 512
    if os.stat(source / "sparse.dat").st_blocks * 512 < 4 * mb:  # the file system keeps holes at all
        assert allocated < 4 * mb  # a plain copy allocates all 32 MB
    # the same bytes again over an existing (longer) file: truncated to the source's length
    (tmp_path / "target").write_bytes(b"x" * (40 * mb))
    copy_sparse(str(source / "sparse.dat"), str(tmp_path / "target"))
    assert (tmp_path / "target").read_bytes() == (source / "sparse.dat").read_bytes()
