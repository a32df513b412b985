from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.errors import EvalError
from rag.eval.datasets import load_dataset
from rag.eval.samples import BEIR_DOCS, BEIR_QUERIES, write_beir_sample, write_visual_sample


def test_beir_sample_loads_with_graded_qrels_and_mteb_document_text(tmp_path: Path):
    ds = load_dataset(write_beir_sample(tmp_path / "beir"))
    assert ds.kind == "text" and ds.name == "beir"
    assert len(ds.corpus) == len(BEIR_DOCS) == 60 and len(ds.queries) == len(BEIR_QUERIES) == 24
    assert ds.qrels["q01"] == {"d01": 2, "d03": 1}
    assert ds.judged_queries == [q for q, _, _ in BEIR_QUERIES]
    doc = ds.corpus[0]
    assert doc.indexed_text == f"{doc.title} {doc.text}"  # as BEIR/MTEB feed sentence-transformers
    # Written for ingest as a titled document: the title a Markdown heading, on its own line.
    assert doc.document == (".md", f"# {doc.title}\n\n{doc.text}")
    long = load_dataset(write_beir_sample(tmp_path / "long", long_docs=True))
    assert len(long.corpus) == 64 and len(long.judged_queries) == 28


def test_visual_sample_and_corpus_folder_format(tmp_path: Path):
    root = write_visual_sample(tmp_path / "vis")
    ds = load_dataset(root)
    assert ds.kind == "visual" and all(d.image is not None and d.image.is_file() for d in ds.corpus)
    assert ds.qrels["v0"] == {"p-red": 1}
    # Without corpus.jsonl: a corpus/ folder whose file names are the ids.
    (root / "corpus.jsonl").unlink()
    (root / "images").rename(root / "corpus")
    folder = load_dataset(root)
    assert folder.kind == "visual" and {d.id for d in folder.corpus} == {d.id for d in ds.corpus}


def _write(root: Path, corpus: list[dict], queries: list[dict], qrels: str) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


def test_qrels_without_header_and_unknown_documents_are_tolerated(tmp_path: Path):
    root = _write(
        tmp_path / "d",
        [{"_id": "1", "text": "one"}, {"_id": "2", "title": "", "text": "two"}],
        [{"_id": "q", "text": "one?"}, {"_id": "unjudged", "text": "?"}],
        "q\t1\t1\nq\tgone\t1\n",
    )
    ds = load_dataset(root)
    assert ds.qrels == {"q": {"1": 1}} and ds.judged_queries == ["q"]
    assert ds.corpus[1].indexed_text == "two"
    assert ds.corpus[1].document == (".txt", "two")


@pytest.mark.parametrize(
    ("corpus", "queries", "qrels", "message"),
    [
        ([{"_id": "1", "text": "a"}, {"_id": "1", "text": "b"}], [{"_id": "q"}], "q\t1\t1\n", "not unique"),
        ([{"_id": "1", "text": "a"}, {"_id": "2", "image": "x.png"}], [{"_id": "q"}], "q\t1\t1\n", "not found"),
        ([{"_id": "1", "text": "a"}], [{"_id": "q"}], "other\t1\t1\n", "missing from queries.jsonl"),
        ([{"_id": "1", "text": "a"}], [{"_id": "q"}], "q\t1\t0\n", "no query has a relevant"),
        ([{"_id": "1", "text": "a"}], [{"_id": "q"}], "q\t1\n", "expected query-id"),
        ([{"text": "no id"}], [{"_id": "q"}], "q\t1\t1\n", 'no "_id"'),
    ],
    ids=["duplicate-ids", "missing-image", "unknown-query", "nothing-relevant", "short-row", "no-id"],
)
def test_broken_datasets_say_what_is_wrong(tmp_path: Path, corpus, queries, qrels, message):
    root = _write(tmp_path / "d", corpus, queries, qrels)
    with pytest.raises(EvalError, match=message):
        load_dataset(root)


def test_missing_files(tmp_path: Path):
    with pytest.raises(EvalError, match="not a directory"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalError, match=r"no corpus\.jsonl"):
        load_dataset(tmp_path / "empty")


def test_evidence_sentences_are_read_per_query_and_broken_lines_named(tmp_path: Path):
    root = write_beir_sample(tmp_path / "beir", long_docs=True)
    dataset = load_dataset(root)
    assert set(dataset.evidence) == set(dataset.judged_queries)
    assert dataset.evidence["q01"] == [BEIR_DOCS[0][2]]
    assert dataset.evidence["q27"] == [
        "If the Cirrus shows a blinking salt light, refill the regeneration salt container."
    ]
    assert load_dataset(write_visual_sample(tmp_path / "vis")).evidence == {}  # no evidence.jsonl: none marked
    (root / "evidence.jsonl").write_text('{"query-id": "q01", "text": "x"}\n{"query-id": "nope", "text": "y"}\n')
    with pytest.raises(EvalError, match=re.escape("line 2: query 'nope' is not in queries.jsonl")):
        load_dataset(root)
    (root / "evidence.jsonl").write_text('{"query-id": "q01"}\n')
    with pytest.raises(EvalError, match=re.escape('line 1 has no {"query-id", "text"}')):
        load_dataset(root)
