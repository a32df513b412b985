"""Crash safety: ``rag ingest`` killed with SIGKILL at random moments, then run again, ends with exactly the
collection an uninterrupted run writes (same points, payloads, vectors, source records, stored images).

The ingest runs in real subprocesses against the embedded store (Qdrant Edge, the default; the recovery test
also on qdrant-client's local mode); kills land at seeded random moments, and at one moment chosen by what is
already stored: the corpus starts with a long file that holds most of the points, and the first run is killed
once 40% of all points are stored, which is inside that file's writes, so at least one kill always hits a
source half-written. The store cannot be read while the killed process owns it, so the subprocess runs the CLI
under a small harness that writes how many points its store has acknowledged to a file after each upsert.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rag.config import QdrantSettings
from rag.store import UNFINISHED, make_store
from rag.testing.store_checks import assert_consistent, assert_same_collection, collection_snapshot

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # four CLI processes, each importing torch and loading models: about a minute
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc to see when the store is open"),
]

REPO = Path(__file__).resolve().parents[2]
BATCH_SIZE = 2  # small batches: many upserts and finalisations, so there are many moments to kill at


def _corpus(root: Path) -> Path:
    from fpdf import FPDF

    rng = random.Random(3)
    words = [
        "panel",
        "inverter",
        "battery",
        "warranty",
        "grid",
        "roof",
        "cable",
        "meter",
        "storage",
        "winter",
        "summer",
        "shade",
    ]
    (root / "notes").mkdir(parents=True)
    # First in discovery order and most of the points: the first kill lands while it is half-written.
    long_text = "\n\n".join(" ".join(rng.choice(words) for _ in range(50)) for _ in range(400))
    (root / "a-long.md").write_text(f"# A long note\n\n{long_text}\n")
    for index in range(12):
        paragraphs = rng.randint(1, 12)
        text = "\n\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(20, 60))) for _ in range(paragraphs))
        suffix = ".md" if index % 2 else ".txt"
        (root / "notes" / f"note-{index:02d}{suffix}").write_text(f"# Note {index}\n\n{text}\n")
    (root / "legacy.txt").write_bytes("Café crème, déjà vu — ça va?".encode("cp1252"))
    Image.new("RGB", (64, 48), "red").save(root / "red.png")
    Image.new("RGB", (50, 70), "blue").save(root / "blue.jpg")
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for page in range(3):
        pdf.add_page()
        pdf.multi_cell(0, 8, text=f"Page {page + 1}: installations doubled in the north.")
        buf = io.BytesIO()
        Image.new("RGB", (80, 40), "green").save(buf, format="PNG")
        pdf.image(buf, x=20, y=80, w=60)
    pdf.output(str(root / "report.pdf"))
    return root


def _env(data_dir: Path, tiny_models: dict[str, Path], engine: str = "edge") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        PYTHONPATH=str(REPO),  # this checkout's code, whatever the virtual environment points at
        RAG_TEST_ACKED=str(data_dir / "acked"),
        RAG_QDRANT__EMBEDDED=engine,
        RAG_DATA_DIR=str(data_dir),
        RAG_MODELS__PROFILE="cpu",
        RAG_MODELS__TEXT__NAME="bundled:all-MiniLM-L6-v2",
        RAG_MODELS__IMAGE__NAME=str(tiny_models["clip"]),
        RAG_MODELS__BATCH_SIZE=str(BATCH_SIZE),
        RAG_MODELS__DEVICE="cpu",
        HF_HUB_OFFLINE="1",
    )
    return env


# ``rag ingest`` with every acknowledged upsert counted into the file named by RAG_TEST_ACKED (test-only harness).
_HARNESS = """
import os, sys
from pathlib import Path
from rag.store.base import StoreBase
from rag.cli import main
acked = Path(os.environ["RAG_TEST_ACKED"])
real = StoreBase.upsert
total = [0]
def upsert(self, records):
    real(self, records)
    total[0] += len(records)
    acked.write_text(str(total[0]))
StoreBase.upsert = upsert
sys.exit(main(sys.argv[1:]))
"""


def _acked(data_dir: Path) -> int:
    """Points the running ingest's store has acknowledged (0 before the first upsert)."""
    try:
        return int((data_dir / "acked").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _lock_file(data_dir: Path, engine: str) -> Path:
    """A file the ingest holds open from the moment it owns the store."""
    return data_dir / "qdrant" / ("edge/rag/owner.lock" if engine == "edge" else "owner.lock")


def _run_and_kill(
    cmd: list[str], env: dict[str, str], cwd: Path, should_kill: Callable[[subprocess.Popen[bytes]], bool], logs: Path
) -> bool:
    """Start the ingest and SIGKILL it once ``should_kill(process)`` is true; False if it ended first."""
    with (logs / "stdout").open("ab") as out, (logs / "stderr").open("ab") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        started = time.monotonic()
        try:
            while proc.poll() is None:
                if time.monotonic() - started > 240:
                    raise AssertionError("ingest subprocess hung")
                if should_kill(proc):
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(30)
                    return True
                time.sleep(0.005)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    assert proc.returncode == 0, (logs / "stderr").read_text()[-3000:]
    return False


def _snapshot(data_dir: Path, engine: str = "edge") -> dict[str, Any]:
    store = make_store(QdrantSettings(embedded=engine), path=data_dir / "qdrant")
    store.open()
    try:
        if not store.exists():
            return {"points": {}, "media": []}
        return collection_snapshot(store, data_dir / "media")
    finally:
        store.close()


def _half_written(snapshot: dict[str, Any]) -> bool:
    """Checks the recorded sources of a killed run; True when some version is stored without a record."""
    payloads = [p["payload"] for p in snapshot["points"].values()]
    records = {p["source_id"]: p for p in payloads if p["kind"] == "source"}
    versions = Counter((p["source_id"], p["content_hash"]) for p in payloads if p["kind"] != "source")
    for source_id, record in records.items():
        # a source marked done has every point of its version
        assert versions[(source_id, record["content_hash"])] == record["points"], source_id
    return any((sid, h) not in {(s, r["content_hash"]) for s, r in records.items()} for sid, h in versions)


def test_ingest_killed_at_random_moments_then_rerun_equals_an_uninterrupted_run(
    make_rag, tiny_models: dict[str, Path], tmp_path: Path
):
    corpus = _corpus(tmp_path / "corpus")
    reference = make_rag("clip", data_dir=tmp_path / "reference", models={"batch_size": BATCH_SIZE})
    started = time.monotonic()
    assert reference.ingest([corpus], progress=False).ok
    duration = time.monotonic() - started
    expected = _snapshot_of_open(reference)
    total = len(expected["points"])

    data_dir = tmp_path / "killed"
    env = _env(data_dir, tiny_models)
    cmd = [sys.executable, "-c", _HARNESS, "ingest", str(corpus), "--no-progress"]
    lock = _lock_file(data_dir, "edge")
    rng = random.Random(20240611)

    def after(delay: float) -> Callable[[subprocess.Popen[bytes]], bool]:
        """Kill ``delay`` seconds after the process opened the store (its models are loaded by then)."""
        opened: list[float] = []

        def due(proc: subprocess.Popen[bytes]) -> bool:
            if not opened and _has_open(proc.pid, lock):
                opened.append(time.monotonic())
            return bool(opened) and time.monotonic() - opened[0] >= delay

        return due

    long_points = sum(1 for p in expected["points"].values() if p["payload"].get("name") == "a-long.md")
    assert long_points >= 0.6 * total  # so that 40% of all points stored is inside the long file

    def mid_long_file() -> Callable[[subprocess.Popen[bytes]], bool]:
        """Kill once 40% of all points are stored (the store starts empty): inside the long file's writes."""
        return lambda _: _acked(data_dir) >= 0.4 * total

    plans = [mid_long_file, lambda: after(rng.uniform(0, duration / 2)), lambda: after(rng.uniform(0, duration / 2))]
    half_written = 0
    completed = False
    for plan in plans:
        if _run_and_kill(cmd, env, tmp_path, plan(), tmp_path):
            snapshot = _snapshot(data_dir)
            half_written += _half_written(snapshot)
            _assert_reads_see_finished_versions_only(make_rag, data_dir, snapshot)
        else:
            completed = True  # nothing was left to kill: this run ingested the rest
            break
    assert half_written >= 1, "no kill landed while a source was half-written"

    if not completed:
        final = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
        assert final.returncode == 0, final.stderr[-3000:]
    actual = _snapshot(data_dir)
    assert_same_collection(actual, expected)  # no duplicates, no leftovers, nothing missing
    assert_consistent(actual)


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_what_a_killed_run_left_is_recovered_at_the_next_open_without_a_rerun(
    make_rag, tiny_models: dict[str, Path], tmp_path: Path, engine: str
):
    corpus = _corpus(tmp_path / "corpus")
    data_dir = tmp_path / "killed"
    cmd = [sys.executable, "-c", _HARNESS, "ingest", str(corpus), "--no-progress"]
    env = _env(data_dir, tiny_models, engine)
    assert _run_and_kill(cmd, env, tmp_path, lambda _: _acked(data_dir) >= 40, tmp_path)
    before = _snapshot(data_dir, engine)
    assert _half_written(before)
    rag = make_rag("clip", data_dir=data_dir, qdrant={"embedded": engine})
    assert rag.unfinished()  # listed (`rag sources --unfinished`) until recovered
    rag.ensure_collection()  # what `rag serve` and `rag ingest` do first: recovery
    assert rag.unfinished() == []
    rag.close()
    after = _snapshot(data_dir, engine)
    assert_consistent(after)
    kept = {pid for pid, p in before["points"].items() if p["payload"].get(UNFINISHED) is not True}
    assert set(after["points"]) <= set(before["points"]) and kept <= set(after["points"])


def _assert_reads_see_finished_versions_only(make_rag: Any, data_dir: Path, snapshot: dict[str, Any]) -> None:
    """Before any rerun or recovery: searches, counts and listings show recorded versions only."""
    payloads = {pid: p["payload"] for pid, p in snapshot["points"].items()}
    records = {p["source_id"]: p for p in payloads.values() if p["kind"] == "source"}
    finished = {
        pid
        for pid, p in payloads.items()
        if p["kind"] != "source" and p["content_hash"] == records.get(p["source_id"], {}).get("content_hash")
    }
    rag = make_rag("clip", data_dir=data_dir)
    try:
        for query in ("battery warranty panel", "installations doubled in the north", "Café crème", "winter shade"):
            hits = rag.search(query, limit=50)
            assert {h.id for h in hits} <= finished, query
        assert rag.count() == len(finished)
        assert {r.source_id for r in rag.sources()} == set(records)
        unfinished = {(v.source_id, v.content_hash) for v in rag.unfinished()}
        stored = {(p["source_id"], p["content_hash"]) for pid, p in payloads.items() if p["kind"] != "source"}
        assert unfinished == stored - {
            (p["source_id"], p["content_hash"]) for pid, p in payloads.items() if pid in finished
        }
    finally:
        rag.close()


def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux ``/proc``)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


def _snapshot_of_open(rag: Any) -> dict[str, Any]:
    snapshot = collection_snapshot(rag._store, rag._media.root)
    rag.close()
    return snapshot
