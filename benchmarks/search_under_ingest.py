"""Search latency while an ingest runs, against search latency alone, in one run and one process.

    PYTHONPATH=. .venv/bin/python benchmarks/search_under_ingest.py [--searchers 8] [--files 100] [--out DIR]

What the HTTP API does when a user asks questions while a job ingests: one :class:`rag.RAG` (one set of
models, one embedded store) serves ``--searchers`` threads that search in a loop and an ingest of ``--files``
generated files (the corpus of ``benchmarks/ingest_throughput.py``) in another thread. The store holds
``--base-files`` files before it starts.

Phases, each measured in this run: ``alone`` (searchers only, ``--seconds``), ``during`` (searchers while the
ingest runs) and ``ingest_alone`` (the same ingest into a fresh store with nobody searching: what searching
costs the ingest). Prints and writes ``search_under_ingest.json``: p50/p95/max per phase, the ratios
during/alone (goal for p95: at most 2), and both ingest durations.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_throughput import WORDS, make_corpus


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(latencies: list[float]) -> dict[str, Any]:
    return {
        "searches": len(latencies),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * _percentile(latencies, 0.95), 1),
        "max_ms": round(1000 * max(latencies), 1),
    }


def _search_loop(rag: Any, stop: threading.Event, out: list[float], seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
        started = time.perf_counter()
        rag.search(question, limit=5)
        out.append(time.perf_counter() - started)


def _with_searchers(rag: Any, searchers: int, work: Any) -> list[float]:
    """Run ``work()`` while ``searchers`` threads search; the latencies of the searches."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(searchers)]
    threads = [
        threading.Thread(target=_search_loop, args=(rag, stop, latencies[i], i), daemon=True) for i in range(searchers)
    ]
    for thread in threads:
        thread.start()
    try:
        work()
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    return [x for per_thread in latencies for x in per_thread]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from rag.config import Settings
    from rag.engine import RAG

    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        base, extra = work / "base", work / "extra"
        make_corpus(base, args.base_files, args.seed)
        make_corpus(extra, args.files, args.seed + 1)

        def settings(name: str) -> Settings:
            return Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=work / name,
                models={"profile": "offline", "device": "cpu", "batch_size": args.batch_size},
            )

        rag = RAG.from_settings(settings("store")).warm_up()
        assert rag.ingest([base], progress=False).ok
        for _ in range(3):
            rag.search("warm up the query path", limit=5)

        alone = _with_searchers(rag, args.searchers, lambda: time.sleep(args.seconds))
        timings: dict[str, float] = {}

        def ingest() -> None:
            started = time.perf_counter()
            report = rag.ingest([extra], progress=False)
            timings["during"] = time.perf_counter() - started
            assert report.ok and report.ingested == args.files, report

        during = _with_searchers(rag, args.searchers, ingest)
        points = rag.count()
        rag.close()

        quiet = RAG(settings("quiet"), models=rag.models, reranker=None, generator=None).warm_up()
        started = time.perf_counter()
        assert quiet.ingest([extra], progress=False).ok
        timings["alone"] = time.perf_counter() - started
        quiet.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    a, d = _summary(alone), _summary(during)
    return {
        "searchers": args.searchers,
        "base_files": args.base_files,
        "files": args.files,
        "points_at_end": points,
        "batch_size": args.batch_size,
        "alone": a,
        "during_ingest": d,
        "ratio_p50": round(d["p50_ms"] / a["p50_ms"], 2),
        "ratio_p95": round(d["p95_ms"] / a["p95_ms"], 2),
        "ingest_seconds": {"with_searchers": round(timings["during"], 2), "alone": round(timings["alone"], 2)},
        "store": "embedded (qdrant-client local mode)",
        "model": "sentence-transformers/all-MiniLM-L6-v2 (bundled), no reranker",
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searchers", type=int, default=8, help="threads searching in a loop")
    parser.add_argument("--files", type=int, default=100, help="files ingested while they search")
    parser.add_argument("--base-files", type=int, default=100, help="files in the store before it starts")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the searches-alone phase")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for search_under_ingest.json")
    args = parser.parse_args(argv)
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search_under_ingest.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(
        f"| {args.searchers} searchers | alone p50 {result['alone']['p50_ms']} ms p95 {result['alone']['p95_ms']} ms "
        f"| during a {args.files}-file ingest p50 {result['during_ingest']['p50_ms']} ms "
        f"p95 {result['during_ingest']['p95_ms']} ms | ratio p50 {result['ratio_p50']} p95 {result['ratio_p95']} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
