"""The ingest pipeline end to end over the embedded store, with tiny models."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from PIL import Image

from rag.records import SearchFilters


def _png(path: Path, color: str, size: tuple[int, int] = (64, 48)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def _pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
        buf = io.BytesIO()
        Image.new("RGB", (80, 40), "green").save(buf, format="PNG")
        pdf.image(buf, x=20, y=80, w=60)
    pdf.output(str(path))
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "notes.md").write_text(
        "# Batteries\n\nThe Helios battery has a twelve year warranty.\n\nClean panels twice a year.\n"
    )
    (root / "sub" / "plain.txt").write_text("Inverters convert direct current to alternating current.\n")
    _png(root / "red.png", "red")
    _pdf(root / "report.pdf", ["Revenue grew by 18 percent.", "Installations doubled in the north."])
    return root


def _points(rag) -> list[dict]:
    points, _ = rag.store.client.scroll(rag.store.collection, limit=10_000, with_payload=True, with_vectors=True)
    return [{"id": str(p.id), "vectors": sorted(p.vector or {}), **(p.payload or {})} for p in points]


def test_ingest_writes_text_image_and_page_points_with_payload(make_rag, corpus: Path):
    rag = make_rag("clip")
    report = rag.ingest([corpus], progress=False)
    assert report.ok, report.failed
    assert (report.files_seen, report.ingested) == (4, 4)
    points = [p for p in _points(rag) if p["kind"] != "source"]
    kinds = {(p["name"], p["kind"]) for p in points}
    assert {
        ("notes.md", "text"),
        ("plain.txt", "text"),
        ("red.png", "image"),
        ("report.pdf", "page"),
        ("report.pdf", "text"),
    } <= kinds
    for p in points:
        assert p["vectors"] == (["sparse", "text"] if p["kind"] == "text" else ["image"])  # sparse: hybrid search
        assert p["tenant"] == "default" and len(p["content_hash"]) == 64 and p["ingested_at"]
        assert p["source_id"] == str(Path(p["path"]).resolve())
    pages = sorted((p["page"], p["image_ref"]) for p in points if p["kind"] == "page")
    assert [n for n, _ in pages] == [1, 2]
    for _, ref in pages:
        assert (rag.media.root / ref).is_file()
    pdf_text = [p for p in points if p["name"] == "report.pdf" and p["kind"] == "text"]
    assert {p["page"] for p in pdf_text} == {1, 2}
    # text chunks of a PDF page point at that page's render, so answers can show it
    assert all(p["image_ref"] == dict(pages)[p["page"]] for p in pdf_text)
    md = next(p for p in points if p["name"] == "notes.md")
    assert md["title"] == "Batteries" and md["mime_type"] == "text/markdown"
    source_text = (corpus / "notes.md").read_text()
    assert source_text[md["char_start"] : md["char_end"]] == md["text"]


def test_reingest_is_idempotent_and_skips_unchanged(make_rag, corpus: Path):
    rag = make_rag("clip")
    first = rag.ingest([corpus], progress=False)
    ids = sorted(p["id"] for p in _points(rag))
    second = rag.ingest([corpus], progress=False)
    assert second.unchanged == 4 and second.ingested == 0 and second.points_written == 0
    assert sorted(p["id"] for p in _points(rag)) == ids
    assert first.points_written == rag.store.count()


def test_changed_source_replaces_its_points(make_rag, corpus: Path):
    rag = make_rag("clip")
    rag.ingest([corpus], progress=False)
    before = rag.store.count()
    long_text = "\n\n".join(f"Paragraph {i} about solar inverters and maintenance schedules." * 8 for i in range(12))
    (corpus / "notes.md").write_text(long_text)
    report = rag.ingest([corpus], progress=False)
    assert report.ingested == 1 and report.unchanged == 3 and report.points_deleted >= 1
    notes = [p for p in _points(rag) if p["name"] == "notes.md" and p["kind"] != "source"]
    assert len({p["content_hash"] for p in notes}) == 1
    assert all("Helios" not in p["text"] for p in notes)
    assert rag.store.count() == before - 1 + len(notes)


def test_fused_search_returns_text_and_image_hits_and_filters_apply(make_rag, corpus: Path):
    rag = make_rag("clip")
    rag.ingest([corpus], progress=False)
    hits = rag.search("battery warranty", limit=20)
    assert {h.modality for h in hits} == {"text", "image"}
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    only_pdf = rag.search("battery", filters=SearchFilters(sources=[str(corpus / "report.pdf")]), limit=20)
    assert only_pdf and {h.path for h in only_pdf} == {str((corpus / "report.pdf").resolve())}
    by_name = rag.search("battery", filters=SearchFilters(sources=["report.pdf"]), limit=20)
    assert {h.id for h in by_name} == {h.id for h in only_pdf}
    images = rag.search("battery", filters=SearchFilters(modalities=["image"]), limit=20)
    assert images and all(h.modality == "image" and h.image_ref for h in images)
    page2 = rag.search("battery", filters=SearchFilters(page_from=2, page_to=2), limit=20)
    assert page2 and all(h.page == 2 for h in page2)
    assert {h.kind for h in page2} == {"page", "text"}
    assert rag.search("battery", tenant="someone-else", limit=20) == []


def test_gpu_like_profile_uses_one_model_for_both_vectors(make_rag, corpus: Path):
    rag = make_rag("qwen")
    assert rag.models.embedders["text"] is rag.models.embedders["image"]
    report = rag.ingest([corpus], progress=False)
    assert report.ok
    assert set(rag.store.stored_schema()) == {"text", "image", "video"}
    hits = rag.search("battery", limit=20)
    assert {h.modality for h in hits} == {"text", "image"}


def test_text_only_profile_skips_images_with_a_reason(make_rag, corpus: Path):
    rag = make_rag("minilm")
    report = rag.ingest([corpus], progress=False)
    assert report.ok
    assert [Path(s.path).name for s in report.skipped] == ["red.png"]
    assert "image vector disabled" in report.skipped[0].reason
    pdf_points = [p for p in _points(rag) if p["name"] == "report.pdf" and p["kind"] != "source"]
    assert pdf_points and {p["kind"] for p in pdf_points} == {"text"}
    # the page renders are still stored for display
    assert all(p["image_ref"] and (rag.media.root / p["image_ref"]).is_file() for p in pdf_points)


def test_bad_inputs_are_reported_per_file_and_the_run_continues(make_rag, corpus: Path, tmp_path: Path):
    rag = make_rag("clip")
    rag.ingest([corpus], progress=False)
    stored = rag.store.count()
    bad = tmp_path / "bad"
    bad.mkdir()
    good = _png(bad / "fine.png", "blue")
    data = (corpus / "red.png").read_bytes()
    (bad / "truncated.png").write_bytes(data[: len(data) // 2])
    (bad / "garbage.jpg").write_bytes(b"not a jpeg at all" * 10)
    pdf = (corpus / "report.pdf").read_bytes()
    (bad / "truncated.pdf").write_bytes(pdf[: len(pdf) // 3])
    (bad / "empty.txt").write_bytes(b"")
    (bad / "binary.md").write_bytes(bytes(range(256)) * 20)
    (bad / "inside.xyz").write_bytes(b"unknown")  # found in a directory: skipped
    (bad / "talk.mp4").write_bytes(b"\x00" * 64)  # a known type without a loader yet: skipped
    (tmp_path / "data.xyz").write_bytes(b"unknown")  # named on purpose: failed
    report = rag.ingest([bad, tmp_path / "data.xyz", bad / "missing.txt"], progress=False)
    failed = {Path(f.path).name: f.reason for f in report.failed}
    assert set(failed) >= {
        "truncated.png",
        "garbage.jpg",
        "truncated.pdf",
        "empty.txt",
        "binary.md",
        "data.xyz",
        "missing.txt",
    }
    assert all(reason for reason in failed.values())
    assert sorted((Path(f.path).name, f.reason) for f in report.skipped) == [
        ("inside.xyz", "unsupported file type '.xyz'"),
        ("talk.mp4", "no loader for video/mp4 files in this version"),
    ]
    assert report.ingested == 1 and not report.ok
    assert rag.store.count() == stored + 1
    assert rag.search("x", filters=SearchFilters(sources=[str(good)]))


def test_a_corrupted_new_version_keeps_the_old_one(make_rag, corpus: Path):
    rag = make_rag("clip")
    rag.ingest([corpus], progress=False)
    pdf_path = corpus / "report.pdf"
    before = sorted(p["id"] for p in _points(rag) if p["name"] == "report.pdf")
    data = pdf_path.read_bytes()
    pdf_path.write_bytes(data[: len(data) // 2])
    report = rag.ingest([pdf_path], progress=False)
    assert [Path(f.path).name for f in report.failed] == ["report.pdf"]
    assert sorted(p["id"] for p in _points(rag) if p["name"] == "report.pdf") == before
    pages = [p for p in _points(rag) if p["name"] == "report.pdf" and p["kind"] == "page"]
    assert all((rag.media.root / p["image_ref"]).is_file() for p in pages)


def test_tenants_are_isolated_on_ingest_and_delete(make_rag, corpus: Path):
    rag = make_rag("clip")
    rag.ingest([corpus / "notes.md"], tenant="acme", progress=False)
    rag.ingest([corpus / "notes.md"], tenant="globex", progress=False)
    assert rag.store.count("acme") == rag.store.count("globex") > 0
    removed = rag.delete(corpus / "notes.md", tenant="acme")
    assert removed == rag.store.count("globex") + 1
    assert rag.store.count("acme") == 0 and rag.store.count("globex") > 0
    assert [s.name for s in rag.sources(tenant="globex")] == ["notes.md"]


def test_schema_mismatch_between_profiles_is_an_error(make_rag, corpus: Path, make_settings):
    from rag.errors import SchemaMismatchError

    clip = make_rag("clip")
    clip.ingest([corpus / "notes.md"], progress=False)
    clip.close()
    qwen = make_rag("qwen")
    with pytest.raises(SchemaMismatchError, match="recreate"):
        qwen.ingest([corpus / "notes.md"], progress=False)
    with pytest.raises(SchemaMismatchError):
        qwen.search("anything")
    report = qwen.ingest([corpus / "notes.md"], recreate=True, progress=False)
    assert report.ok and set(qwen.store.stored_schema()) == {"text", "image", "video"}
