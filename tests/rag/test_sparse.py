from __future__ import annotations

import math

import pytest

from rag.sparse import STOPWORDS_EN, Bm25Encoder, SparseEncoder, SparseVector, term_id, tokenize


def test_tokenize_is_unicode_casefolded_and_splits_on_underscores_and_punctuation():
    assert tokenize("Café-Crème_brûlée, ÉTÉ 2024! naïve") == ["café", "crème", "brûlée", "été", "2024", "naïve"]
    assert tokenize("Straße") == ["strasse"]  # casefold, not lower
    assert tokenize("x" * 41 + " ok") == ["ok"]  # hashes and base64 blobs are not terms


def test_terms_drop_stopwords_and_stem():
    enc = Bm25Encoder()
    assert enc.terms("The batteries are running and the warranty is generous") == [
        "batteri",
        "run",
        "warranti",
        "generous",
    ]
    assert Bm25Encoder(stem=False).terms("The batteries are running") == ["batteries", "running"]
    assert {"the", "is", "and", "of"} <= STOPWORDS_EN


def test_term_ids_are_stable_unsigned_32_bit():
    # Pinned: changing the hash silently would make every stored sparse vector unreadable.
    assert term_id("batteri") == term_id("batteri") == 3511300631
    assert all(0 <= term_id(t) < 2**32 for t in ["", "a", "ü", "solar"])
    assert term_id("solar") != term_id("panel")


def test_document_weights_are_bm25_tf_saturation_with_fixed_avgdl():
    enc = Bm25Encoder(k1=1.2, b=0.75, avgdl=100)
    (vec,) = enc.encode_documents(["Solar solar panel."])
    weights = vec.as_dict()
    dl = 3
    norm = 1.2 * (1 - 0.75 + 0.75 * dl / 100)
    assert weights[term_id("solar")] == pytest.approx(2 * 2.2 / (2 + norm))
    assert weights[term_id("panel")] == pytest.approx(1 * 2.2 / (1 + norm))
    assert list(vec.indices) == sorted(vec.indices)
    # Longer documents weigh the same term frequency less; more occurrences saturate towards k1 + 1.
    (long,) = enc.encode_documents(["solar " + "filler " * 200])
    assert long.as_dict()[term_id("solar")] < weights[term_id("panel")]
    (many,) = enc.encode_documents(["solar " * 1000])
    assert 2.0 < many.as_dict()[term_id("solar")] < 2.2


def test_query_weights_are_one_per_distinct_term_and_stopword_queries_are_empty():
    enc = Bm25Encoder()
    q = enc.encode_query("Solar panels, solar PANEL?")
    assert q.as_dict() == {term_id("solar"): 1.0, term_id("panel"): 1.0}
    assert len(enc.encode_query("what is it?")) == 0
    assert enc.encode_documents([]) == []


def test_bm25_encoder_satisfies_the_protocol_and_names_its_parameters():
    enc = Bm25Encoder(avgdl=50)
    assert isinstance(enc, SparseEncoder)
    assert "avgdl=50" in enc.encoder_id and "blake2b32" in enc.encoder_id
    assert enc.encoder_id != Bm25Encoder().encoder_id != Bm25Encoder(stem=False).encoder_id
    with pytest.raises(ValueError):
        Bm25Encoder(b=2)


def test_qdrant_idf_modifier_in_the_embedded_store_gives_bm25(tmp_path):
    """The embedded store applies the IDF modifier itself: score = sum over shared terms of idf * doc weight."""
    from qdrant_client import QdrantClient, models

    enc = Bm25Encoder()
    docs = ["solar panel cleaning", "solar inverter", "solar battery warranty", "wind turbine"]
    client = QdrantClient(path=str(tmp_path / "q"))
    client.create_collection(
        "c", vectors_config={}, sparse_vectors_config={"s": models.SparseVectorParams(modifier=models.Modifier.IDF)}
    )
    client.upsert(
        "c",
        points=[
            models.PointStruct(id=i, vector={"s": models.SparseVector(indices=list(v.indices), values=list(v.values))})
            for i, v in enumerate(enc.encode_documents(docs))
        ],
    )
    q = enc.encode_query("solar warranty")
    res = client.query_points(
        "c", query=models.SparseVector(indices=list(q.indices), values=list(q.values)), using="s", limit=4
    )
    client.close()

    def idf(df: int, n: int = 4) -> float:
        return math.log((n - df + 0.5) / (df + 0.5) + 1)

    d2 = enc.encode_documents([docs[2]])[0].as_dict()
    expected = idf(3) * d2[term_id("solar")] + idf(1) * d2[term_id("warranti")]
    assert [p.id for p in res.points] == [2, 1, 0]  # shorter "solar" documents first; no shared term, no hit
    assert res.points[0].score == pytest.approx(expected, rel=1e-5)


def test_sparse_vector_record():
    v = SparseVector((1, 5), (0.5, 2.0))
    assert len(v) == 2 and v.as_dict() == {1: 0.5, 5: 2.0}
