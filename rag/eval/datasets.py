"""Evaluation datasets on disk: BEIR's text format and a visual-document variant of it (as ViDoRe uses).

Both formats share the queries and the relevance judgements::

    DATASET_DIR/
      queries.jsonl        {"_id": "q1", "text": "how long is the warranty?"}
      qrels/test.tsv       query-id <TAB> corpus-id <TAB> score   (header line optional; score > 0 = relevant)

and optionally mark *evidence sentences*, the sentences that answer a query (``rag eval`` reports whether the
extractive answer contains one)::

      evidence.jsonl       {"query-id": "q1", "text": "The battery is covered for twelve years."}  (one per line)

and differ in the corpus:

* **text (BEIR)**: ``corpus.jsonl`` with ``{"_id", "title", "text"}`` per document. A document is indexed as
  ``title + " " + text`` (stripped), exactly as BEIR/MTEB feed it to a sentence-transformers model.
* **visual**: ``corpus.jsonl`` with ``{"_id", "image"}`` per page, ``image`` a path relative to the dataset
  directory (any ``title``/``text`` is ignored: the page image is what is indexed), *or* no ``corpus.jsonl``
  and a ``corpus/`` folder of page images whose file names (without extension) are the document ids.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rag.errors import EvalError

__all__ = ["IMAGE_SUFFIXES", "CorpusDoc", "EvalDataset", "load_dataset"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True, slots=True)
class CorpusDoc:
    id: str
    title: str = ""
    text: str = ""
    image: Path | None = None

    @property
    def indexed_text(self) -> str:
        """What is embedded for a text document: BEIR/MTEB's ``title + " " + text``."""
        return f"{self.title} {self.text}".strip() if self.title else self.text.strip()

    @property
    def document(self) -> tuple[str, str]:
        """The document as ``rag eval`` writes it for ingest, (file suffix, content): with a title, Markdown with
        the title as its heading (the words BEIR/MTEB embed, the title on its own line, as a titled document has
        it: the product does not quote a heading as an answer sentence); without, plain text."""
        title = " ".join(self.title.split())
        if not title:
            return ".txt", self.text.strip()
        return ".md", f"# {title}\n\n{self.text.strip()}"


@dataclass(frozen=True)
class EvalDataset:
    name: str
    root: Path
    kind: Literal["text", "visual"]
    corpus: list[CorpusDoc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    evidence: dict[str, list[str]] = field(default_factory=dict)

    @property
    def judged_queries(self) -> list[str]:
        """Query ids with at least one relevant document, in file order of the queries."""
        return [q for q in self.queries if any(g > 0 for g in self.qrels.get(q, {}).values())]


def _jsonl(
    path: Path, *, valid: Callable[[dict[str, Any]], bool] | None = None, expected: str = '"_id"'
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSON-lines file with their line numbers; an object that ``valid`` refuses (by
    default: one without ``_id``) is an error saying it lacks ``expected``."""
    ok = valid or (lambda row: "_id" in row)
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalError(f"line {number} is not JSON: {exc.msg}", source=str(path)) from exc
            if not isinstance(row, dict) or not ok(row):
                raise EvalError(f"line {number} has no {expected}", source=str(path))
            yield number, row


def _load_corpus(root: Path) -> tuple[Literal["text", "visual"], list[CorpusDoc]]:
    path = root / "corpus.jsonl"
    if not path.is_file():
        folder = root / "corpus"
        if not folder.is_dir():
            raise EvalError("no corpus.jsonl and no corpus/ folder of page images", source=str(root))
        images = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise EvalError("corpus/ holds no images", source=str(folder))
        return "visual", [CorpusDoc(id=p.stem, image=p.resolve()) for p in images]
    docs: list[CorpusDoc] = []
    kinds: set[str] = set()
    for number, row in _jsonl(path):
        if row.get("image"):
            image = (root / str(row["image"])).resolve()
            if not image.is_file():
                raise EvalError(f"line {number}: image {row['image']!r} not found", source=str(path))
            kinds.add("visual")
            docs.append(CorpusDoc(id=str(row["_id"]), image=image))
        else:
            kinds.add("text")
            docs.append(
                CorpusDoc(id=str(row["_id"]), title=str(row.get("title") or ""), text=str(row.get("text") or ""))
            )
    if not docs:
        raise EvalError("the corpus is empty", source=str(path))
    if len(kinds) > 1:
        raise EvalError("mixes text documents and page images; use one kind per dataset", source=str(path))
    if len({d.id for d in docs}) != len(docs):
        raise EvalError("document ids are not unique", source=str(path))
    return ("visual" if "visual" in kinds else "text"), docs


def _load_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise EvalError("relevance judgements not found", source=str(path))
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for number, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if number == 1 and row[0].strip().lower() in {"query-id", "query_id", "qid"}:
                continue
            if len(row) < 3:
                raise EvalError(f"line {number}: expected query-id, corpus-id, score", source=str(path))
            try:
                score = int(float(row[2]))
            except ValueError as exc:
                raise EvalError(f"line {number}: score {row[2]!r} is not a number", source=str(path)) from exc
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = score
    return qrels


def _load_evidence(path: Path, queries: dict[str, str]) -> dict[str, list[str]]:
    """``evidence.jsonl``: query id -> the sentences that answer it (none when the file is absent)."""
    if not path.is_file():
        return {}
    evidence: dict[str, list[str]] = {}
    rows = _jsonl(
        path,
        valid=lambda row: "query-id" in row and bool(str(row.get("text") or "").strip()),
        expected='{"query-id", "text"}',
    )
    for number, row in rows:
        if str(row["query-id"]) not in queries:
            raise EvalError(f"line {number}: query {row['query-id']!r} is not in queries.jsonl", source=str(path))
        evidence.setdefault(str(row["query-id"]), []).append(str(row["text"]).strip())
    return evidence


def load_dataset(root: str | Path, *, split: str = "test") -> EvalDataset:
    """Read a dataset directory (see the module docstring); raises :class:`EvalError` saying what is wrong."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise EvalError("not a directory", source=str(root))
    kind, corpus = _load_corpus(root)
    queries_path = root / "queries.jsonl"
    if not queries_path.is_file():
        raise EvalError("queries.jsonl not found", source=str(root))
    queries = {str(row["_id"]): str(row.get("text") or "") for _, row in _jsonl(queries_path)}
    qrels = _load_qrels(root / "qrels" / f"{split}.tsv")
    doc_ids = {d.id for d in corpus}
    unknown_docs = sum(1 for rels in qrels.values() for d in rels if d not in doc_ids)
    if unknown_docs:
        log.warning("%s: %d judgements name documents that are not in the corpus (ignored)", root, unknown_docs)
    qrels = {q: {d: g for d, g in rels.items() if d in doc_ids} for q, rels in qrels.items()}
    missing = sorted(q for q in qrels if q not in queries)
    if missing:
        raise EvalError(f"qrels name queries missing from queries.jsonl: {', '.join(missing[:5])}", source=str(root))
    evidence = _load_evidence(root / "evidence.jsonl", queries)
    dataset = EvalDataset(
        name=root.name, root=root, kind=kind, corpus=corpus, queries=queries, qrels=qrels, evidence=evidence
    )
    if not dataset.judged_queries:
        raise EvalError(f"no query has a relevant document in qrels/{split}.tsv", source=str(root))
    return dataset
