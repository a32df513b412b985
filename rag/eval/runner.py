"""``rag eval``: ingest a dataset into a fresh collection through the normal pipeline, run its queries on
each named vector alone, fused, and fused + reranked, and score the rankings (:mod:`rag.eval.metrics`).

* The collection is separate from the user's: an embedded store in a temporary directory (or, with a
  Qdrant server, a collection of its own name), tenant ``eval``; it is removed afterwards unless kept.
* Text documents go through the same loader, chunker, embedder and store as ``rag ingest`` (one file per
  document); page images likewise. Hits are points (chunks, pages): a document scores as its best point,
  i.e. its first appearance in the ranking.
* Each query is encoded once; every mode searches with that encoding (``Retriever.search_encoded``).
* Relevance (no reranker's gate involved): for the judged queries, the fraction *wrongly refused* (no hit of a
  search for ``RAG_GENERATION__CONTEXT_HITS`` hits, as the answer step searches, reaches
  ``RAG_RETRIEVAL__RELEVANCE_THRESHOLD``, the answer step's gate), and the expected calibration error of the
  top-10 documents' ``relevance`` against the qrels (judged relevant or not); for negative queries
  (``--negatives FILE``, one per line, and :data:`OFF_DOMAIN_QUERIES`, questions from unrelated domains), the
  fraction *refused*, as the answer step searches too.
* Reranking (``--rerank``) reorders the first ``RAG_RERANK__CANDIDATES`` fused hits with the configured
  reranker, without a latency budget; the fused hits after them keep their order (they still count for
  Recall@100).
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from rag import extractive
from rag.config import Fusion, Settings
from rag.errors import ConfigError
from rag.eval.datasets import EvalDataset
from rag.eval.metrics import expected_calibration_error, metric_names, per_query
from rag.markdown import plain_paragraph
from rag.records import Citation, Hit
from rag.relevance import describe

if TYPE_CHECKING:
    from rag.engine import RAG
    from rag.reranker import Reranker
    from rag.retriever import Retriever

__all__ = [
    "EVAL_TENANT",
    "OFF_DOMAIN_QUERIES",
    "EvalReport",
    "EvalWorkspace",
    "ModeResult",
    "RelevanceResult",
    "format_report",
    "run_eval",
]

log = logging.getLogger(__name__)

EVAL_TENANT = "eval"
# How the documents of a text dataset are written for ingest (CorpusDoc.document); a kept workspace written
# otherwise is not reused: its points would not be the ones written now.
CORPUS_FORMAT = "markdown-title"
FUSED = "fused"
RERANKED = "fused+rerank"
_MAX_DEPTH = 1000

# Negative queries for any dataset: everyday questions no indexed collection of ours is about (and none of
# rag.relevance.BACKGROUND_QUERIES, which calibrate the scores). Three earlier ones (a sourdough starter, lava,
# why cats purr) were about topics of the bundled sample set itself, so they were replaced.
OFF_DOMAIN_QUERIES = (
    "How long does a male emperor penguin incubate its egg?",
    "When did the Berlin Wall fall?",
    "What is the national dish of Peru?",
    "What does the borrow checker do in the Rust language?",
    "Who painted the ceiling of the Sistine Chapel?",
    "How many players are on a rugby union team?",
    "What is the best age to start piano lessons?",
    "Which mushrooms are safe to pick in autumn forests?",
    "How did the Roman empire fall?",
    "What is a good name for a golden retriever puppy?",
    "How do I fix a flat bicycle tyre?",
    "What is the tallest mountain in Africa?",
    "How do octopuses change colour?",
    "Recommended novels by Jane Austen for beginners",
    "How much water should a cactus get in winter?",
    "What causes the northern lights?",
    "How to make fresh pasta without a machine",
    "Rules of the offside in football",
    "How are bagpipes played?",
    "What is the population of Iceland?",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModeResult(_Model):
    mode: str = Field(description='A named vector ("text", "image", "sparse"), "fused", or "fused+rerank".')
    vectors: list[str] = Field(description="Named vectors searched.")
    metrics: dict[str, float]
    ms_per_query: float = Field(
        description="Mean time per query: search (and, for fused+rerank, the fused search plus reranking); "
        "query encoding excluded."
    )


class NegativeSet(_Model):
    asked: int
    refused: float = Field(description="Fraction refused.")


class NullResult(_Model):
    """One (named vector, query modality)'s calibration, as :mod:`rag.relevance` measured it."""

    vector: str
    query_modality: str
    center: float = Field(description="Median score of unrelated (background question, point) pairs.")
    spread: float = Field(description="Their robust spread (1.4826 x MAD).")
    edge: float = Field(description="z-score of an even bet (relevance 0.5).")
    background_best: float | None = Field(
        default=None, description="Median z of the background questions' best hits in the collection."
    )
    points: int = Field(description="Points sampled.")
    method: str = Field(description="How relevance is computed from the score, with its parameters.")


class RelevanceResult(_Model):
    threshold: float = Field(description="RAG_RETRIEVAL__RELEVANCE_THRESHOLD used as the gate.")
    answerable_refused: float = Field(description="Judged queries with no hit over the threshold (wrongly refused).")
    negatives: int = Field(description="Negative queries asked (--negatives and the built-in off-domain ones).")
    negatives_refused: float = Field(description="Negative queries with no hit over the threshold (rightly refused).")
    negative_sets: dict[str, NegativeSet] = Field(
        default_factory=dict, description='Per set of negatives: each --negatives file (by name) and "built-in".'
    )
    ece: float = Field(description="Expected calibration error of the top-10 documents' relevance against qrels.")
    relevant_mean: float = Field(description="Mean relevance of judged-relevant documents in the top 10.")
    irrelevant_mean: float = Field(description="Mean relevance of other documents in the top 10.")
    evidence_queries: int = Field(default=0, description="Judged queries whose evidence sentences are marked.")
    evidence_in_answer: float | None = Field(
        default=None, description="Of those, the fraction whose extractive answer contains an evidence sentence."
    )
    nulls: list[NullResult] = Field(default_factory=list, description="The calibration of each searched vector.")


class EvalReport(_Model):
    dataset: str
    kind: str
    documents: int
    points: int
    queries: int
    failed_documents: int = 0
    profile: str
    models: dict[str, str] = Field(description="Model behind each dense named vector.")
    sparse: str | None = Field(default=None, description="Sparse encoder (BM25) id, when hybrid search is on.")
    fusion: str
    rrf_k: int
    reranker: str | None = None
    ingest_seconds: float
    encode_ms_per_query: float
    modes: list[ModeResult]
    relevance: RelevanceResult | None = Field(default=None, description="The relevance gate and its calibration.")
    notes: list[str] = Field(default_factory=list)
    rankings: dict[str, dict[str, list[str]]] | None = Field(
        default=None, description="With keep_rankings: mode -> query id -> ranked document ids."
    )

    def mode(self, name: str) -> ModeResult:
        for result in self.modes:
            if result.mode == name:
                return result
        raise KeyError(name)


class EvalWorkspace:
    """Settings and a directory for one evaluation, never the user's collection.

    Embedded store: a new store under a temporary directory (``keep``: under ``DATA_DIR/eval/``).
    Qdrant server: a new collection named ``<collection>-eval-<dataset>-<random>`` on it.
    ``reuse``: the directory of a workspace kept earlier for the same dataset (its store or collection is scored
    again; the ingest skips the documents it already holds, so only edited documents are embedded again). A
    kept workspace of another dataset, or of a different number of documents, is refused: documents no longer
    in the dataset would stay in its collection.
    """

    RECORD = "workspace.json"

    def __init__(
        self,
        settings: Settings,
        dataset: str,
        *,
        keep: bool = False,
        reuse: Path | None = None,
        documents: int | None = None,
    ) -> None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset).strip("-.")[:40] or "dataset"
        token = uuid.uuid4().hex[:8]
        embedded = settings.qdrant.url is None
        collection = "eval" if embedded else f"{settings.qdrant.collection}-eval-{slug}-{token}"
        self.keep = keep or reuse is not None
        self.reused = reuse is not None
        if reuse is not None:
            self.path, collection = self._kept(reuse, settings, dataset, documents)
        elif keep:
            self.path = (settings.data_dir / "eval" / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}-{token}").resolve()
            self.path.mkdir(parents=True)
            record = {
                "dataset": dataset,
                "documents": documents,
                "corpus_format": CORPUS_FORMAT,
                "collection": collection,
                "server": not embedded,
            }
            (self.path / self.RECORD).write_text(json.dumps(record) + "\n", encoding="utf-8")
        else:
            self.path = Path(tempfile.mkdtemp(prefix=f"rag-eval-{slug}-"))
        self.settings = settings.model_copy(
            update={
                "data_dir": self.path / "data",
                "tenant": EVAL_TENANT,
                "qdrant": settings.qdrant.model_copy(update={"path": None, "collection": collection}),
                # An evaluation scores every candidate: no latency budget.
                "rerank": settings.rerank.model_copy(update={"budget_ms": 10**9}),
            }
        )

    @classmethod
    def _kept(cls, folder: Path, settings: Settings, dataset: str, documents: int | None) -> tuple[Path, str]:
        """The directory and collection of a workspace kept by ``keep`` (its directory, or the store location
        printed for it); raises :class:`ConfigError` saying what does not fit."""
        folder = folder.expanduser().resolve()
        for candidate in (folder, *folder.parents[:3]):
            record = candidate / cls.RECORD
            if record.is_file():
                break
        else:
            raise ConfigError(f"{folder}: not an evaluation workspace kept by rag eval --keep (no {cls.RECORD})")
        try:
            kept = json.loads(record.read_text(encoding="utf-8"))
            collection, server = str(kept["collection"]), bool(kept["server"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{record}: unreadable ({exc})") from exc
        if server != (settings.qdrant.url is not None):
            where = "a Qdrant server" if server else "the embedded store"
            raise ConfigError(f"{candidate}: kept in {where}; set RAG_QDRANT__URL as it was then")
        if kept.get("corpus_format") != CORPUS_FORMAT:
            raise ConfigError(
                f"{candidate}: kept by an older rag eval, which wrote the documents differently "
                f"(format {kept.get('corpus_format')!r}, now {CORPUS_FORMAT!r}); evaluate it afresh (without --reuse)"
            )
        if kept.get("dataset") != dataset or kept.get("documents") != documents:
            raise ConfigError(
                f"{candidate}: kept for dataset {kept.get('dataset')!r} with {kept.get('documents')} documents, "
                f"not {dataset!r} with {documents}; evaluate it afresh (without --reuse)"
            )
        return candidate, collection

    @property
    def location(self) -> str:
        qdrant = self.settings.qdrant
        return f"{qdrant.url} collection {qdrant.collection}" if qdrant.url else str(self.settings.qdrant_path)

    def cleanup(self, rag: RAG | None) -> None:
        """Close ``rag``; unless kept, drop the server collection and remove the directory."""
        if rag is not None:
            try:
                if not self.keep and not rag.local_store:
                    rag.drop_collection()
            finally:
                rag.close()
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


def _write_text_corpus(dataset: EvalDataset, folder: Path) -> dict[str, str]:
    """One file per document (:attr:`~rag.eval.datasets.CorpusDoc.document`); returns resolved path -> document id."""
    mapping: dict[str, str] = {}
    for index, doc in enumerate(dataset.corpus):
        suffix, content = doc.document
        path = folder / f"{index // 1000:04d}" / f"{index:07d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content + "\n", encoding="utf-8")
        mapping[str(path.resolve())] = doc.id
    return mapping


def _dedupe_docs(hits: Sequence[Hit], mapping: dict[str, str], k: int) -> list[str]:
    """Document ids in rank order, each at its best (first) point, at most ``k``."""
    out: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        doc = mapping.get(hit.source_id)
        if doc is None or doc in seen:
            continue
        seen.add(doc)
        out.append(doc)
        if len(out) == k:
            break
    return out


Mode = tuple[str, tuple[str, ...] | None]  # (mode name, the named vectors it searches: None for all)


@dataclass
class _Corpus:
    """The dataset as ingested: indexed file path -> document id, and what the ingest gave."""

    mapping: dict[str, str]
    points: int
    failed: int
    seconds: float


@dataclass
class _Scores:
    """What the judged queries add up to, per mode."""

    totals: dict[str, dict[str, float]]
    rankings: dict[str, dict[str, list[str]]]
    seconds: dict[str, float]
    encode_seconds: float = 0.0
    refused: int = 0
    calibration: list[tuple[float, bool]] = field(default_factory=list)
    evidence: list[bool] = field(default_factory=list)


def run_eval(
    rag: RAG,
    dataset: EvalDataset,
    *,
    workdir: Path,
    rerank: bool = False,
    limit_queries: int | None = None,
    progress: bool | None = None,
    metrics: Sequence[str] | None = None,
    keep_rankings: bool = False,
    negatives: Sequence[str] | Mapping[str, Sequence[str]] = (),
    compare_fusions: bool = False,
    reuse: bool = False,
) -> EvalReport:
    """Ingest ``dataset`` into ``rag``'s collection, recreated, as tenant ``eval``; score every retrieval mode.

    ``rag`` must point at a collection of its own (see :class:`EvalWorkspace`): one that holds points of
    another tenant is refused rather than recreated. ``compare_fusions``: also score the fused search with each
    other fusion (modes ``fused:dbsf`` ...). ``negatives``: queries that should be refused, beside
    :data:`OFF_DOMAIN_QUERIES` (by set name, to report each set apart). ``reuse``: the collection is a kept
    evaluation's, not recreated (the ingest leaves the documents it holds unchanged).
    """
    names = list(metrics or metric_names())
    max_k = max(int(name.partition("@")[2]) for name in names)
    if rag.count() != rag.count(tenant=EVAL_TENANT):
        raise ConfigError(
            f"{rag.store_location} holds data of other tenants; an "
            "evaluation recreates its collection: give it one of its own (rag.eval.EvalWorkspace)"
        )
    rag.ensure_collection(recreate=not reuse)
    retriever, reranker = rag.search_roles()
    if not rerank:
        reranker = None
    elif reranker is None:
        raise ConfigError("--rerank needs a reranker: set RAG_RERANK__MODEL__NAME")
    notes: list[str] = []
    corpus = _ingest(rag, dataset, workdir, progress=progress, notes=notes)
    modes = _modes(
        retriever,
        dataset.kind,
        reranked=reranker is not None,
        notes=notes,
        compare_with=rag.settings.retrieval.fusion if compare_fusions else None,
    )
    judged = dataset.judged_queries[:limit_queries] if limit_queries is not None else dataset.judged_queries
    scores = _score_queries(
        rag.settings,
        dataset,
        judged,
        corpus,
        modes,
        retriever,
        reranker,
        names=names,
        max_k=max_k,
        keep_rankings=keep_rankings,
        progress=progress,
    )
    n = max(1, len(judged))
    sparse = retriever.sparse
    return EvalReport(
        dataset=dataset.name,
        kind=dataset.kind,
        documents=len(dataset.corpus),
        points=corpus.points,
        queries=len(judged),
        failed_documents=corpus.failed,
        profile=rag.models.profile,
        models={name: e.model_id for name, e in rag.models.embedders.items()},
        sparse=sparse.encoder_id if sparse is not None else None,
        fusion=rag.settings.retrieval.fusion,
        rrf_k=rag.settings.retrieval.rrf_k,
        reranker=reranker.model_id if reranker is not None else None,
        ingest_seconds=round(corpus.seconds, 2),
        encode_ms_per_query=round(scores.encode_seconds / n * 1000, 2),
        modes=[
            ModeResult(
                mode=mode,
                vectors=list(vectors or retriever.vector_names),
                metrics={name: round(total / n, 6) for name, total in scores.totals[mode].items()},
                ms_per_query=round(scores.seconds[mode] / n * 1000, 2),
            )
            for mode, vectors in modes
        ],
        relevance=_relevance(rag.settings, retriever, scores, n, negatives),
        notes=notes,
        rankings=scores.rankings if keep_rankings else None,
    )


def _ingest(rag: RAG, dataset: EvalDataset, workdir: Path, *, progress: bool | None, notes: list[str]) -> _Corpus:
    """Index the corpus through the normal pipeline: text documents one file each, visual ones by their image."""
    started = time.perf_counter()
    if dataset.kind == "text":
        mapping = _write_text_corpus(dataset, workdir / "corpus")
        targets: list[str | Path] = [workdir / "corpus"]
    else:
        mapping = {str(doc.image): doc.id for doc in dataset.corpus if doc.image is not None}
        if len(mapping) != len(dataset.corpus):
            raise ConfigError("several documents of the visual corpus share one image file")
        targets = [Path(p) for p in mapping]
    report = rag.ingest(targets, tenant=EVAL_TENANT, progress=progress)
    seconds = time.perf_counter() - started
    failed = len(report.failed) + len(report.skipped)
    if failed:
        notes.append(f"{failed} documents were not indexed (empty or unreadable); they count as never retrieved")
    return _Corpus(mapping=mapping, points=rag.count(tenant=EVAL_TENANT), failed=failed, seconds=seconds)


def _modes(
    retriever: Retriever, kind: str, *, reranked: bool, notes: list[str], compare_with: str | None = None
) -> list[Mode]:
    """The modes scored: each named vector that indexes the corpus's modality alone, fused, fused + reranked;
    with ``compare_with`` (the configured fusion), fused with each other fusion too."""
    modality = "text" if kind == "text" else "image"
    single = [name for name in retriever.embedders if name == modality]
    if kind == "text" and retriever.sparse is not None:
        single.append("sparse")
    modes: list[Mode] = [(name, (name,)) for name in single]
    modes.append((FUSED, None))
    if compare_with is not None:
        modes.extend(_other_fusions(compare_with))
    if reranked:
        modes.append((RERANKED, None))
    if not single:
        notes.append(f"no loaded model indexes {modality} documents: only the fused search is scored")
    return modes


def _score_queries(
    settings: Settings,
    dataset: EvalDataset,
    judged: Sequence[str],
    corpus: _Corpus,
    modes: Sequence[Mode],
    retriever: Retriever,
    reranker: Reranker | None,
    *,
    names: list[str],
    max_k: int,
    keep_rankings: bool,
    progress: bool | None,
) -> _Scores:
    """Run every judged query in every mode (each query encoded once) and add up its metrics and timings."""
    from tqdm.auto import tqdm

    # Enough points to find max_k distinct documents when documents are split into several points.
    per_document = math.ceil(corpus.points / max(1, len(dataset.corpus) - corpus.failed))
    depth = min(_MAX_DEPTH, max_k * max(1, per_document))
    scores = _Scores(
        totals={mode: dict.fromkeys(names, 0.0) for mode, _ in modes},
        rankings={mode: {} for mode, _ in modes},
        seconds={mode: 0.0 for mode, _ in modes},
    )
    candidates = settings.rerank.candidates
    gate = settings.retrieval.relevance_threshold
    context = settings.generation.context_hits
    for query_id in tqdm(judged, desc="eval queries", unit="query", disable=None if progress is None else not progress):
        text = dataset.queries[query_id]
        qrels = dataset.qrels[query_id]
        t0 = time.perf_counter()
        encoded = retriever.encode(text)
        scores.encode_seconds += time.perf_counter() - t0
        fused: list[Hit] = []
        fused_seconds = 0.0
        for mode, vectors in modes:
            t0 = time.perf_counter()
            if mode == RERANKED:
                assert reranker is not None
                head, info = reranker.rerank(text, fused[:candidates], top_k=candidates)
                hits = [*head, *fused[candidates:]]
                if info.note:
                    log.info("rerank %s: %s", query_id, info.note)
            else:
                hits = retriever.search_encoded(
                    encoded, tenant=EVAL_TENANT, limit=depth, vectors=vectors, fusion=_mode_fusion(mode)
                )
                if mode == FUSED:
                    fused = hits
                    scores.calibration.extend(_judged_relevance(hits, corpus.mapping, qrels))
            elapsed = time.perf_counter() - t0
            if mode == FUSED:
                fused_seconds = elapsed
            scores.seconds[mode] += elapsed + (fused_seconds if mode == RERANKED else 0.0)
            if mode == FUSED:  # the answer step, searched as it searches (its hits only), not timed
                context_hits = retriever.search_encoded(encoded, tenant=EVAL_TENANT, limit=context)
                scores.refused += not _passes(context_hits, gate)
                if query_id in dataset.evidence:
                    evidence = dataset.evidence[query_id]
                    scores.evidence.append(_evidence_in_answer(text, context_hits, evidence, retriever, gate))
            ranked = _dedupe_docs(hits, corpus.mapping, max_k)
            if keep_rankings:
                scores.rankings[mode][query_id] = ranked
            for name, value in per_query(ranked, qrels, names).items():
                scores.totals[mode][name] += value
    return scores


def _relevance(
    settings: Settings,
    retriever: Retriever,
    scores: _Scores,
    n: int,
    negatives: Sequence[str] | Mapping[str, Sequence[str]],
) -> RelevanceResult:
    """The relevance gate: judged queries wrongly refused, negative queries rightly refused, and calibration."""
    gate = settings.retrieval.relevance_threshold
    context = settings.generation.context_hits
    named = dict(negatives) if isinstance(negatives, Mapping) else {"negatives": negatives}
    named["built-in"] = OFF_DOMAIN_QUERIES
    sets = {name: [q for q in queries if q.strip()] for name, queries in named.items()}
    refused = {
        name: sum(not _passes(retriever.search(q, tenant=EVAL_TENANT, limit=context), gate) for q in queries)
        for name, queries in sets.items()
    }
    asked = sum(len(queries) for queries in sets.values())
    calibration = scores.calibration
    return RelevanceResult(
        threshold=gate,
        answerable_refused=round(scores.refused / n, 4),
        negatives=asked,
        negatives_refused=round(sum(refused.values()) / max(1, asked), 4),
        negative_sets={
            name: NegativeSet(asked=len(queries), refused=round(refused[name] / max(1, len(queries)), 4))
            for name, queries in sets.items()
            if queries
        },
        ece=round(expected_calibration_error(calibration), 4),
        relevant_mean=round(_mean([r for r, ok in calibration if ok]), 4),
        irrelevant_mean=round(_mean([r for r, ok in calibration if not ok]), 4),
        evidence_queries=len(scores.evidence),
        evidence_in_answer=round(sum(scores.evidence) / len(scores.evidence), 4) if scores.evidence else None,
        nulls=[
            NullResult(
                vector=stats.vector,
                query_modality=stats.query_modality,
                center=round(stats.center, 6),
                spread=round(stats.spread, 6),
                edge=round(stats.edge, 4),
                background_best=None if stats.best is None else round(stats.best, 4),
                points=stats.points,
                method=describe(stats),
            )
            for name in retriever.embedders
            if (stats := retriever.calibrator.stats(name, "text")) is not None
        ],
    )


def _other_fusions(default: str) -> list[tuple[str, tuple[str, ...] | None]]:
    """The fused modes with the fusions other than ``default``, named ``fused:<fusion>``."""
    return [(f"{FUSED}:{name}", None) for name in get_args(Fusion) if name != default]


def _mode_fusion(mode: str) -> Fusion | None:
    """The fusion a ``fused:<fusion>`` mode uses (None: the configured one)."""
    prefix, _, name = mode.partition(":")
    return cast("Fusion", name) if prefix == FUSED and name in get_args(Fusion) else None


def _evidence_in_answer(
    question: str, hits: Sequence[Hit], evidence: Sequence[str], retriever: Retriever, gate: float
) -> bool:
    """Whether the extractive answer built from ``hits`` (those passing the gate, and their neighbouring chunks,
    as the answer step takes them) contains one of the ``evidence`` sentences; a refused question contains none."""
    passing = [h for h in hits if h.relevance is None or h.relevance >= gate]
    sources = [Citation(number=i, hit=h) for i, h in enumerate(passing, start=1)]
    embedder = retriever.embedders.get("text")
    if not sources or embedder is None:
        return False
    terms = retriever.sparse.terms if retriever.sparse is not None else None
    found = extractive.answer([question], sources, embedder, adjacent=retriever.adjacent(passing), terms=terms)
    answer = _folded(found[0]) if found is not None else ""
    return any(_folded(plain_paragraph(sentence)) in answer for sentence in evidence)


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def _passes(hits: Sequence[Hit], gate: float) -> bool:
    return any(h.relevance is None or h.relevance >= gate for h in hits)


def _judged_relevance(hits: Sequence[Hit], mapping: dict[str, str], qrels: dict[str, int]) -> list[tuple[float, bool]]:
    """(relevance, judged relevant) of the first 10 documents, each at its best point."""
    out: list[tuple[float, bool]] = []
    seen: set[str] = set()
    for hit in hits:
        doc = mapping.get(hit.source_id)
        if doc is None or doc in seen or hit.relevance is None:
            continue
        seen.add(doc)
        out.append((hit.relevance, qrels.get(doc, 0) > 0))
        if len(out) == 10:
            break
    return out


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def format_report(report: EvalReport) -> str:
    """The console table."""
    names = list(report.modes[0].metrics) if report.modes else []
    labels = {
        FUSED: f"fused ({report.fusion}{f', k={report.rrf_k}' if report.fusion == 'rrf' else ''})",
        RERANKED: "fused + rerank",
        **{
            f"{FUSED}:{name}": f"fused ({name}{', k=' + str(report.rrf_k) if name == 'rrf' else ''})"
            for name in get_args(Fusion)
        },
        "sparse": "sparse (BM25)",
    }
    lines = [
        f"dataset {report.dataset} ({report.kind}): {report.documents} documents -> {report.points} points, "
        f"{report.queries} queries; ingest {report.ingest_seconds:.1f} s, query encoding "
        f"{report.encode_ms_per_query:.1f} ms",
        "models: "
        + ", ".join(f"{v}={m}" for v, m in report.models.items())
        + (f"; reranker {report.reranker}" if report.reranker else ""),
        "",
    ]
    shown = [(labels.get(m.mode, f"{m.mode} (dense)"), m) for m in report.modes]
    width = max([len("mode"), *(len(label) for label, _ in shown)])
    header = f"{'mode':<{width}}  " + "  ".join(f"{n:>10}" for n in names) + f"  {'ms/query':>9}"
    lines.append(header)
    lines.append("-" * len(header))
    for label, result in shown:
        values = "  ".join(f"{result.metrics[n]:>10.4f}" for n in names)
        lines.append(f"{label:<{width}}  {values}  {result.ms_per_query:>9.1f}")
    rel = report.relevance
    if rel is not None:
        lines.append("")
        lines.append(
            f"relevance gate {rel.threshold}: answerable wrongly refused {rel.answerable_refused:.1%}, "
            f"negatives refused {rel.negatives_refused:.1%} of {rel.negatives}; ECE {rel.ece:.3f} "
            f"(mean relevance: relevant {rel.relevant_mean:.3f}, other {rel.irrelevant_mean:.3f})"
        )
        if len(rel.negative_sets) > 1:
            lines.append(
                "negatives refused by set: "
                + ", ".join(f"{name} {one.refused:.1%} of {one.asked}" for name, one in rel.negative_sets.items())
            )
        if rel.evidence_in_answer is not None:
            lines.append(
                f"extractive answers holding an evidence sentence: {rel.evidence_in_answer:.1%} "
                f"of {rel.evidence_queries} queries"
            )
        lines.extend(
            f"calibration of {null.vector} ({null.query_modality} queries): centre {null.center:.4f}, "
            f"spread {null.spread:.4f}, edge z {null.edge:.2f}"
            + ("" if null.background_best is None else f" (background's best hits: z {null.background_best:.2f})")
            for null in rel.nulls
        )
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)
