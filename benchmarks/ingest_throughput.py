"""Throughput of the full ingest pipeline against ``model.encode`` alone, on the same chunks, in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/ingest_throughput.py [--files 600] [--repeats 3] [--out DIR]

A text corpus is generated (seeded, varied file sizes) in a temporary directory. The script then measures

* ``encode``: ``SentenceTransformer.encode`` on exactly the chunk texts the pipeline produces (the same
  loaders and chunker), with the same batch size;
* ``pipeline``: ``RAG.ingest`` on the corpus into a fresh embedded Qdrant: discover, hash, load, chunk,
  embed, upsert, finalise each source;

after a warm-up of both, ``--repeats`` rounds of the two back to back (which goes first alternates), and
prints and writes ``ingest_throughput.json`` (items, seconds, items/s, the ratio pipeline/encode items/s as
the median of the rounds' ratios and per round, batch size, torch threads, versions) and a Markdown line.
"""

from __future__ import annotations

import os

# Before numpy/torch load, as the CLI does: numpy's BLAS threads would fight torch's for the cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import functools
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

_VOCABULARY = (
    "solar panel inverter battery warranty installation roof grid current voltage storage charge cycle "
    "maintenance cleaning efficiency output kilowatt hour meter cable fuse breaker string module cell "
    "temperature weather season winter summer shade angle tilt mount bracket bolt frame glass coating "
    "monitor app alert fault error reset firmware update service technician visit report invoice price "
    "customer contract lease loan subsidy tax credit permit inspection utility tariff export import night "
    "day peak load heat pump car charger backup outage island mode safety shutdown label manual guide"
)
WORDS = tuple(_VOCABULARY.split())


def make_corpus(root: Path, files: int, seed: int) -> None:
    """``files`` Markdown and text files, from a few sentences to many pages (most are small)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        paragraphs = max(1, int(rng.lognormvariate(1.6, 1.0)))
        body = []
        for _ in range(paragraphs):
            sentences = []
            for _ in range(rng.randint(3, 9)):
                words = [rng.choice(WORDS) for _ in range(rng.randint(6, 20))]
                sentences.append(" ".join(words).capitalize() + ".")
            body.append(" ".join(sentences))
        suffix = ".md" if index % 3 else ".txt"
        title = f"# Document {index}\n\n" if suffix == ".md" else ""
        folder = root / f"part-{index % 7}"
        folder.mkdir(exist_ok=True)
        (folder / f"doc-{index:04d}{suffix}").write_text(title + "\n\n".join(body) + "\n", encoding="utf-8")


def chunk_texts(rag: Any, corpus: Path) -> list[str]:
    """The text of every chunk the pipeline will embed, loaded the way the pipeline loads them."""
    from ingest.discover import discover
    from ingest.pipeline import build_loaders
    from rag.records import Source

    loaders = build_loaders(rag.settings, rag.models.embedders.get("text"))
    texts: list[str] = []
    for found in discover([corpus]):
        if isinstance(found, Source):
            texts.extend(item.text or "" for item in loaders.for_source(found).load(found))
    return texts


def _timed(obj: Any, name: str, totals: dict[str, float]) -> None:
    """Replace ``obj.name`` (on the instance) by a wrapper that adds its run time to ``totals[name]``."""
    original = getattr(obj, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - started

    setattr(obj, name, wrapper)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    from rag.config import Settings
    from rag.engine import RAG
    from rag.loading import resolve_model_path

    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        corpus = work / "corpus"
        make_corpus(corpus, args.files, args.seed)
        warm_corpus = work / "warm"
        make_corpus(warm_corpus, 12, args.seed + 1)

        def settings(name: str) -> Settings:
            return Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=work / name,
                models={"profile": "offline", "device": "cpu", "batch_size": args.batch_size},
            )

        rag = RAG.from_settings(settings("store")).warm_up()
        spec = rag.settings.models.text
        from rag.config import BUNDLED_MINILM, ModelSpec

        model_path = resolve_model_path(
            spec or ModelSpec(name=BUNDLED_MINILM), offline=True, cache_dir=None, setting="RAG_MODELS__TEXT__NAME"
        )
        model = SentenceTransformer(model_path, device="cpu")
        texts = chunk_texts(rag, corpus)

        def encode(items: list[str]) -> None:
            model.encode(items, batch_size=args.batch_size, convert_to_numpy=True, normalize_embeddings=True)

        # Warm-up: both paths once on a small corpus (allocators, lazy init, the tokenizer copy).
        encode(chunk_texts(rag, warm_corpus))
        warm = RAG(settings("warm"), models=rag.models, reranker=None, generator=None).warm_up()
        warm.ingest([warm_corpus], progress=False)
        warm.close()

        results: dict[str, list[float]] = {"encode": [], "pipeline": []}
        breakdowns: list[dict[str, float]] = []

        def time_encode(round_: int) -> None:
            started = time.perf_counter()
            encode(texts)
            results["encode"].append(time.perf_counter() - started)

        def time_pipeline(round_: int) -> None:
            target = RAG(settings(f"store-{round_}"), models=rag.models, reranker=None, generator=None).warm_up()
            # Where the pipeline's time goes (busy seconds per call site; the stages overlap).
            totals: dict[str, float] = defaultdict(float)
            for name in ("upsert", "delete_stale_many", "put_sources", "get_source"):
                _timed(target._store, name, totals)
            _timed(target.models.embedders["text"], "encode_documents", totals)
            started = time.perf_counter()
            report = target.ingest([corpus], progress=False)
            results["pipeline"].append(time.perf_counter() - started)
            del target.models.embedders["text"].encode_documents  # the shared model, unwrapped again
            breakdowns.append({k: round(v, 3) for k, v in totals.items()})
            target.close()
            assert report.ok and report.points_written == len(texts), (report.points_written, len(texts))

        for round_ in range(args.repeats):
            # Alternate which path goes first, so that neither always gets the warmer (or quieter) slot.
            order = (time_encode, time_pipeline) if round_ % 2 == 0 else (time_pipeline, time_encode)
            for measure in order:
                measure(round_)
        rag.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    encode_s, pipeline_s = min(results["encode"]), min(results["pipeline"])
    # Each round times encode and the pipeline back to back: on a shared machine whose speed drifts, the
    # ratio within a round is steadier than a ratio of bests taken from different rounds.
    paired = [e / p for e, p in zip(results["encode"], results["pipeline"], strict=True)]
    items = len(texts)
    return {
        "files": args.files,
        "items": items,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "encode": {"seconds": round(encode_s, 3), "items_per_s": round(items / encode_s, 2)},
        "pipeline": {"seconds": round(pipeline_s, 3), "items_per_s": round(items / pipeline_s, 2)},
        "ratio": round(statistics.median(paired), 3),
        "ratio_of_bests": round(encode_s / pipeline_s, 3),
        "ratio_per_round": [round(r, 3) for r in paired],
        "all_seconds": {k: [round(v, 3) for v in vs] for k, vs in results.items()},
        "pipeline_busy_seconds": breakdowns,
        "model": "sentence-transformers/all-MiniLM-L6-v2 (bundled)",
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "qdrant_client": metadata.version("qdrant-client"),
        },
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=600, help="files in the generated corpus (600: ~2,400 chunks)")
    parser.add_argument("--batch-size", type=int, default=16, help="model batch size (RAG_MODELS__BATCH_SIZE)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of both measurements; the ratio is the median over rounds"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for ingest_throughput.json")
    args = parser.parse_args(argv)
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest_throughput.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(
        f"| {result['items']} chunks ({result['files']} files) | batch {result['batch_size']} | "
        f"encode {result['encode']['items_per_s']} items/s | pipeline {result['pipeline']['items_per_s']} items/s | "
        f"ratio {result['ratio']} (per round {result['ratio_per_round']}) | torch threads {result['torch_threads']} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
