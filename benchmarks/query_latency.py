"""Query latency by stage at several collection sizes, in the embedded store (Qdrant Edge).

Stages, timed per query (p50/p95 over ``--queries`` queries, after ``--warmup`` untimed ones):

* ``encode``      query → MiniLM dense vector + BM25 sparse vector (``Retriever.encode``);
                  baseline: ``SentenceTransformer.encode`` of the same query, called directly.
* ``search``      one fused Qdrant query, dense + sparse prefetches, RRF (``Retriever.search_encoded``);
                  baselines: the same call on the dense vector alone, the same fused call on qdrant-client's
                  local mode holding the same points (``search_local``, the embedded store before Qdrant
                  Edge; ``--no-local`` skips it), and exact numpy search (one matrix product + top-k) over the
                  same vectors in memory.
* ``rerank``      the fused top ``--rerank-candidates`` hits through ``CrossEncoderReranker``; by default a
                  tiny random Qwen3-VL reranker built offline (plumbing cost only, not a real model's
                  latency); ``--reranker DIR`` for a real CrossEncoder; no baseline.
* ``first_token`` prompt with the top 5 hits → first streamed piece from a local stub LLM
                  (``rag.testing.openai_stub``) through ``LiteLLMGenerator``; baseline: the same request
                  streamed with plain httpx.

Points are synthetic (random unit vectors, Zipf-distributed pseudo-words for the sparse side) and are
upserted straight through the stores (``EdgeStore``, and ``QdrantStore`` in local mode); the collection grows
from one size to the next, and after each size the Edge store is closed and opened again (``reopen``). Local
mode warns above 20,000 points: it searches exhaustively and filters payloads in Python.

Outputs (``--out``): ``query_latency.json``, ``query_latency.md`` and, with matplotlib (the ``bench``
extra), ``query_latency.png``.

    python benchmarks/query_latency.py                       # 1k and 10k points, 20 queries each
    python benchmarks/query_latency.py --large               # also 50k and 100k (long with local mode)
    python benchmarks/query_latency.py --sizes 200 --queries 3 --out /tmp/bench   # a smoke run
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import argparse
import json
import logging
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.testing.synthetic import TENANT

log = logging.getLogger("benchmarks.query_latency")

DIM = 384
STAGES = ("encode", "search", "rerank", "first_token")
BASELINES = {
    "encode": ("encode_raw",),
    "search": ("search_exact", "search_dense", "search_local", "search_numpy"),
    "first_token": ("first_token_raw",),
}


def _percentiles(samples: Sequence[float]) -> dict[str, float]:
    values = np.asarray(samples, dtype=np.float64) * 1000
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
        "n": len(samples),
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _vocabulary(rng: np.random.Generator, size: int = 6000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "do", "fu", "gi", "ha", "je", "po", "zu"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables, size=int(rng.integers(2, 5)))))
    return sorted(words)


def _synthetic_points(rng: np.random.Generator, vocab: list[str], start: int, stop: int, sparse: Any) -> Any:
    from rag.testing.synthetic import text_points

    n = stop - start
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ranks = np.minimum(rng.zipf(1.2, size=(n, 80)), len(vocab)) - 1
    lengths = rng.integers(20, 80, size=n)
    texts = [" ".join(vocab[r] for r in ranks[i, : lengths[i]]) for i in range(n)]
    return text_points(texts, vectors, sparse, first=start, per_source=4), vectors


def _raw_first_token(client: Any, base_url: str, messages: list[dict[str, Any]]) -> float:
    """Time to the first content piece of a plain streamed request (httpx, kept-alive connection; no litellm)."""
    body = {"model": "stub", "messages": messages, "stream": True}
    t0 = time.perf_counter()
    with (
        client.stream(
            "POST", f"{base_url}/chat/completions", json=body, headers={"Authorization": "Bearer sk-bench"}
        ) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                delta = json.loads(line[6:])["choices"][0].get("delta", {})
                if delta.get("content"):
                    return time.perf_counter() - t0
    raise RuntimeError("the stub sent no content")


def _reopen_in_fresh_process(path: Path) -> dict[str, Any]:
    """Open the Edge store in a new Python process and run one fused query there: what a restart costs.

    The child reports its own open time (load + count), its first query's time, and its peak RSS (the
    interpreter, numpy and the store's imports included, as a real process has).
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--reopen-probe", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ})
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _reopen_probe(path: Path) -> dict[str, Any]:
    """The child of :func:`_reopen_in_fresh_process`."""
    from rag.config import QdrantSettings
    from rag.sparse import SPARSE_VECTOR, SparseVector
    from rag.store import EdgeStore, StoreFilter

    t0 = time.perf_counter()
    store = EdgeStore(QdrantSettings(collection="bench"), path=path)
    store.open()
    points = store.count(TENANT)
    t_open = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    dense = rng.standard_normal(DIM).astype(np.float32)
    queries = {"text": dense / np.linalg.norm(dense), SPARSE_VECTOR: SparseVector((1, 2, 3), (1.0, 1.0, 1.0))}
    t_query, _ = _timed(lambda: store.search(queries, where=StoreFilter(tenant=TENANT), limit=10, prefetch_limit=50))
    store.close()
    return {
        "points": points,
        "open_s": round(t_open, 3),
        "first_query_ms": round(t_query * 1000, 2),
        "max_rss_mb": round(_peak_rss_kib() / 1024, 1),
    }


def _peak_rss_kib() -> int:
    """This process's peak RSS. ``VmHWM`` where there is /proc: ``getrusage``'s max RSS survives ``execve``, so
    a child forked from the benchmark (torch and every point loaded) would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux, bytes on macOS


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from rag.config import GenerationSettings, QdrantSettings, RerankSettings, RetrievalSettings, Settings
    from rag.generator import LiteLLMGenerator
    from rag.loading import load_embedders
    from rag.prompt import build_messages
    from rag.records import Citation
    from rag.reranker import CrossEncoderReranker
    from rag.retriever import Retriever
    from rag.sparse import SPARSE_VECTOR, Bm25Encoder
    from rag.store import CollectionSchema, EdgeStore, QdrantStore, SparseSchema, VectorSchema, edge
    from rag.testing.openai_stub import OpenAIStub

    edge._BUILD_NICE = 0  # on a machine shared with other jobs, a niced build would time their load
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = Settings(_env_file=None, models={"profile": "offline"})  # type: ignore[call-arg]
    embedder = load_embedders(settings).embedders["text"]
    raw_model = embedder._model  # type: ignore[attr-defined]
    sparse = Bm25Encoder()
    store = EdgeStore(QdrantSettings(collection="bench"), path=workdir / "qdrant")
    store.open()
    if store._timer is not None:  # the benchmark builds the index itself, once a size is complete
        store._timer.cancel()
    schema = CollectionSchema(
        (VectorSchema("text", embedder.dimension, embedder.model_id),),
        sparse=(SparseSchema(SPARSE_VECTOR, sparse.encoder_id),),
    )
    store.ensure_collection(schema, recreate=True)
    retriever = Retriever(embedders={"text": embedder}, store=store, settings=RetrievalSettings(), sparse=sparse)
    local = local_retriever = None
    if args.local:
        local = QdrantStore(QdrantSettings(collection="bench", embedded="local"), path=workdir / "local")
        local.ensure_collection(schema, recreate=True)
        local_retriever = Retriever(
            embedders={"text": embedder}, store=local, settings=RetrievalSettings(), sparse=sparse
        )

    reranker = None
    reranker_name = "none"
    if not args.no_rerank:
        from sentence_transformers import CrossEncoder

        path = args.reranker
        if path is None:
            from rag.testing.tiny_models import build_qwen3vl_reranker

            path = build_qwen3vl_reranker(workdir / "tiny-reranker")
            reranker_name = "tiny random Qwen3-VL reranker (plumbing cost only)"
        else:
            reranker_name = str(path)
        reranker = CrossEncoderReranker(
            CrossEncoder(str(path), device="cpu"),
            model_id=reranker_name,
            settings=RerankSettings(candidates=args.rerank_candidates, budget_ms=10**9, cache_size=0),
            load_image=lambda ref: None,
        )

    vocab = _vocabulary(rng)
    queries = [
        " ".join(vocab[int(r)] for r in np.minimum(rng.zipf(1.2, size=int(rng.integers(2, 6))), len(vocab)) - 1)
        for _ in range(args.queries + args.warmup)
    ]
    gen_settings = GenerationSettings(model="openai/stub", api_base="", api_key="sk-bench", max_retries=0)
    stub = OpenAIStub(reply="The answer is in the first source [1].", model="stub").start()
    generator = LiteLLMGenerator(gen_settings.model_copy(update={"api_base": stub.base_url}))
    import httpx

    http = httpx.Client(timeout=30)

    results: dict[str, Any] = {
        "sizes": {}, "upsert": [], "upsert_local": [], "reopen": [], "reopen_fresh": [], "index": []
    }  # fmt: skip
    caught: list[str] = []
    all_vectors = np.zeros((0, DIM), dtype=np.float32)
    count = 0
    try:
        for size in sorted(args.sizes):
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                t_upsert = t_local = 0.0
                added = size - count
                while count < size:
                    stop = min(size, count + 5000)
                    records, vectors = _synthetic_points(rng, vocab, count, stop, sparse)
                    elapsed, _ = _timed(lambda records=records: store.upsert(records))
                    t_upsert += elapsed
                    if local is not None:
                        t_local += _timed(lambda records=records: local.upsert(records))[0]
                    all_vectors = np.vstack([all_vectors, vectors])
                    count = stop
                for key, seconds in (("upsert", t_upsert), ("upsert_local", t_local)):
                    if seconds:
                        results[key].append(
                            {
                                "size": size,
                                "points": added,
                                "seconds": round(seconds, 2),
                                "points_per_s": round(added / seconds, 1),
                            }
                        )
                if args.index and store.index_due():
                    t_build = time.perf_counter()
                    store.build_index()
                    answered = 0  # searches go on while the child builds the index
                    while store._build is not None:
                        retriever.search_encoded(retriever.encode(queries[0]), tenant=TENANT, limit=10)
                        answered += 1
                        time.sleep(0.05)  # a steady query load, not a busy loop
                    store.wait_for_index()
                    results["index"].append(
                        {
                            "size": size,
                            "build_s": round(time.perf_counter() - t_build, 1),
                            "searches_answered_during_build": answered,
                            "swap_reads_held_ms": round((store.last_swap_s or 0) * 1000, 3),
                            "copy_writes_held_ms": round((store.last_copy_s or 0) * 1000, 1),
                            "state": store.index_state(),
                        }
                    )
                    log.warning("size %d: %s", size, results["index"][-1])
                store.close()
                results["reopen_fresh"].append({"size": size, **_reopen_in_fresh_process(store.path)})
                t_reopen, _ = _timed(lambda: (store.open(), store.count(TENANT)))
                results["reopen"].append({"size": size, "seconds": round(t_reopen, 3)})
                log.warning(
                    "size %d: %d points upserted in %.1f s; timing %d queries", size, added, t_upsert, len(queries)
                )
                samples: dict[str, list[float]] = {
                    k: [] for k in ("encode", "encode_raw", "search", "search_exact", "search_dense", "search_local",
                                    "search_numpy",
                                    "rerank", "first_token", "first_token_raw", "total")
                }  # fmt: skip
                for index, query in enumerate(queries):
                    t_enc, encoded = _timed(lambda query=query: retriever.encode(query))
                    t_raw, dense = _timed(
                        lambda query=query: raw_model.encode([query], normalize_embeddings=True, convert_to_numpy=True)[
                            0
                        ]
                    )
                    t_search, hits = _timed(
                        lambda encoded=encoded: retriever.search_encoded(
                            encoded, tenant=TENANT, limit=max(args.rerank_candidates, 10)
                        )
                    )
                    t_dense, _ = _timed(
                        lambda encoded=encoded: retriever.search_encoded(
                            encoded, tenant=TENANT, limit=max(args.rerank_candidates, 10), vectors=("text",)
                        )
                    )
                    t_exact = 0.0
                    if store._index is not None:  # the same fused search with every point scored (no index)
                        indexed = store.settings
                        store.settings, store._total = indexed.model_copy(update={"exact_below": 10**9}), None
                        t_exact, _ = _timed(
                            lambda encoded=encoded: retriever.search_encoded(
                                encoded, tenant=TENANT, limit=max(args.rerank_candidates, 10)
                            )
                        )
                        store.settings, store._total = indexed, None
                    t_local = 0.0
                    if local_retriever is not None:
                        t_local, _ = _timed(
                            lambda encoded=encoded: local_retriever.search_encoded(
                                encoded, tenant=TENANT, limit=max(args.rerank_candidates, 10)
                            )
                        )
                    t_numpy, _ = _timed(
                        lambda dense=dense, matrix=all_vectors: np.argpartition(-(matrix @ dense), 10)[:10]
                    )
                    t_rerank = 0.0
                    if reranker is not None:
                        t_rerank, (hits, _) = _timed(
                            lambda query=query, hits=hits: reranker.rerank(
                                query, hits[: args.rerank_candidates], top_k=5
                            )
                        )
                    sources = [Citation(number=i, hit=h) for i, h in enumerate(hits[:5], start=1)]
                    messages = build_messages(query, sources, load_image=lambda ref: None, settings=gen_settings)
                    t_first, _ = _timed(lambda messages=messages: next(iter(generator.stream(messages))))
                    t_first_raw = _raw_first_token(http, stub.base_url, messages)
                    if index < args.warmup:
                        continue
                    for key, value in (("encode", t_enc), ("encode_raw", t_raw), ("search", t_search),
                                       ("search_exact", t_exact), ("search_dense", t_dense),
                                       ("search_local", t_local),
                                       ("search_numpy", t_numpy), ("rerank", t_rerank),
                                       ("first_token", t_first), ("first_token_raw", t_first_raw),
                                       ("total", t_enc + t_search + t_rerank + t_first)):  # fmt: skip
                        samples[key].append(value)
                stats = {
                    k: _percentiles(v)
                    for k, v in samples.items()
                    if v
                    and (k != "rerank" or reranker)
                    and (k != "search_local" or local)
                    and (k != "search_exact" or store._index is not None)
                }
                ratios: dict[str, float] = {}
                for stage, baselines in BASELINES.items():
                    for baseline in baselines:
                        if stage in stats and baseline in stats and stats[baseline]["p50_ms"] > 0:
                            ratios[f"{stage}/{baseline}"] = round(stats[stage]["p50_ms"] / stats[baseline]["p50_ms"], 2)
                results["sizes"][str(size)] = {"points": store.count(TENANT), "stages": stats, "ratios_p50": ratios}
            caught.extend(str(w.message).splitlines()[0] for w in seen if str(w.message) not in caught)
    finally:
        http.close()
        stub.stop()
        store.close()
        if local is not None:
            local.close()
        torch.set_num_threads(threads_before)
        shutil.rmtree(workdir, ignore_errors=True)  # the stores: ~400 MB at 100k points
    results["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "torch_threads": args.threads,
        "queries": args.queries,
        "warmup": args.warmup,
        "store": "Qdrant Edge (EdgeStore; "
        + (f"HNSW above {store.settings.exact_below:,} points" if args.index else "exact search")
        + "); baseline: qdrant-client local mode",
        "encoder": f"{embedder.model_id} + {sparse.encoder_id}",
        "reranker": reranker_name,
        "rerank_candidates": args.rerank_candidates if reranker is not None else 0,
        "llm": "rag.testing.openai_stub (local HTTP, no model) via litellm",
        "warnings": sorted(set(caught)),
    }
    return results


def to_markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# Query latency by stage",
        "",
        f"{meta['date']}; {meta['machine']}; Python {meta['python']}; torch threads {meta['torch_threads']}; "
        f"{meta['queries']} queries per size after {meta['warmup']} warm-up; {meta['store']}.",
        f"Encoder: {meta['encoder']}. Reranker: {meta['reranker']} on {meta['rerank_candidates']} candidates. "
        f"LLM: {meta['llm']}.",
        "",
        "| points | stage | p50 ms | p95 ms | baseline | baseline p50 ms | ratio (p50) |",
        "|---:|---|---:|---:|---|---:|---:|",
    ]
    for size, data in results["sizes"].items():
        stats, ratios = data["stages"], data["ratios_p50"]
        for stage in (*STAGES, "total"):
            if stage not in stats:
                continue
            base = [b for b in BASELINES.get(stage, ()) if b in stats] or [None]
            for i, baseline in enumerate(base):
                head = (
                    f"| {int(size):,} | {stage} | {stats[stage]['p50_ms']:.1f} | {stats[stage]['p95_ms']:.1f} "
                    if i == 0
                    else "| | | | "
                )
                if baseline is None:
                    lines.append(head + "| – | – | – |")
                else:
                    ratio = ratios.get(f"{stage}/{baseline}")
                    lines.append(head + f"| {baseline} | {stats[baseline]['p50_ms']:.1f} | {ratio:.2f}× |")
    lines += ["", "Store upserts while building (synthetic points, no embedding), and reopening the Edge store:", ""]
    for key, name in (("upsert", "Edge"), ("upsert_local", "local mode")):
        lines += [
            f"- {name}: {u['points']:,} points to reach {u['size']:,}: {u['seconds']} s "
            f"({u['points_per_s']:,} points/s)"
            for u in results.get(key, [])
        ]
    lines += [
        f"- Edge HNSW index at {r['size']:,} points: built in {r['build_s']} s in a child process, "
        f"{r['searches_answered_during_build']} searches answered meanwhile, reads held {r['swap_reads_held_ms']} ms "
        f"by the swap, writes held {r.get('copy_writes_held_ms', '–')} ms by the shard copy; {r['state']}"
        for r in results.get("index", [])
    ]
    lines += [f"- Edge reopened at {r['size']:,} points: {r['seconds']} s" for r in results.get("reopen", [])]
    lines += [
        f"- Edge opened in a fresh process at {r['size']:,} points: {r['open_s']} s, first query "
        f"{r['first_query_ms']} ms, max RSS {r['max_rss_mb']} MB"
        for r in results.get("reopen_fresh", [])
    ]
    if meta["warnings"]:
        lines += ["", "Warnings from the store:", ""] + [f"- {w}" for w in meta["warnings"]]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return False
    sizes = [int(s) for s in results["sizes"]]
    fig, ax = plt.subplots(figsize=(8, 5))
    series = ("encode", "search", "search_dense", "search_local", "search_numpy", "rerank", "first_token", "total")
    for name in series:
        p50 = [results["sizes"][str(s)]["stages"].get(name, {}).get("p50_ms") for s in sizes]
        if any(v is None for v in p50):
            continue
        p95 = [results["sizes"][str(s)]["stages"][name]["p95_ms"] for s in sizes]
        style = "--" if name in ("search_dense", "search_local", "search_numpy") else "-"
        line = ax.plot(sizes, p50, style, marker="o", label=f"{name} p50")[0]
        ax.fill_between(sizes, p50, p95, color=line.get_color(), alpha=0.12)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("points in the collection (Qdrant Edge; search_local: qdrant-client local mode)")
    ax.set_ylabel("latency per query, ms (band: p50–p95)")
    ax.set_title("Query latency by stage")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--large", action="store_true", help="also 50k and 100k points (long with local mode)")
    parser.add_argument("--no-local", dest="local", action="store_false", help="no local-mode baseline")
    parser.add_argument("--queries", type=int, default=20, help="timed queries per size")
    parser.add_argument("--warmup", type=int, default=2, help="untimed queries per size")
    parser.add_argument("--rerank-candidates", type=int, default=30)
    parser.add_argument("--reranker", type=Path, help="CrossEncoder directory (default: a tiny random one)")
    parser.add_argument("--no-rerank", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steady numbers on busy machines)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-index", dest="index", action="store_false", help="no HNSW build (every search exact, as before)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--reopen-probe", type=Path, help=argparse.SUPPRESS)  # the child of a reopen measurement
    args = parser.parse_args(argv)
    if args.reopen_probe is not None:
        print(json.dumps(_reopen_probe(args.reopen_probe)))
        return 0
    if args.large:
        args.sizes = sorted({*args.sizes, 50_000, 100_000})
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    results = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "query_latency.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "query_latency.md").write_text(to_markdown(results))
    plotted = plot(results, args.out / "query_latency.png")
    print(to_markdown(results))
    print(f"written to {args.out}" + ("" if plotted else " (no plot: matplotlib missing)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
