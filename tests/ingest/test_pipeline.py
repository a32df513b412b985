"""The ingest pipeline end to end over the embedded store, with tiny models."""

from __future__ import annotations

import io
import itertools
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from ingest.pipeline import file_sha256
from rag.records import IngestReport, SearchFilters
from rag.testing.store_checks import assert_consistent, assert_same_collection, collection_snapshot


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
    return [{"id": p.id, "vectors": sorted(p.vectors), **p.payload} for p in rag._store.points()]


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
        assert rag.media_file(ref).is_file()
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
    assert first.points_written == rag.count()


def test_changed_source_replaces_its_points(make_rag, corpus: Path):
    rag = make_rag("clip")
    rag.ingest([corpus], progress=False)
    before = rag.count()
    long_text = "\n\n".join(f"Paragraph {i} about solar inverters and maintenance schedules." * 8 for i in range(12))
    (corpus / "notes.md").write_text(long_text)
    report = rag.ingest([corpus], progress=False)
    assert report.ingested == 1 and report.unchanged == 3 and report.points_deleted >= 1
    notes = [p for p in _points(rag) if p["name"] == "notes.md" and p["kind"] != "source"]
    assert len({p["content_hash"] for p in notes}) == 1
    assert all("Helios" not in p["text"] for p in notes)
    assert rag.count() == before - 1 + len(notes)


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
    assert set(rag._store.stored_schema()) == {"text", "image", "video"}
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
    assert all(p["image_ref"] and rag.media_file(p["image_ref"]).is_file() for p in pdf_points)


def test_bad_inputs_are_reported_per_file_and_the_run_continues(make_rag, corpus: Path, tmp_path: Path):
    rag = make_rag("clip")
    rag.ingest([corpus], progress=False)
    stored = rag.count()
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
    (bad / "talk.mp4").write_bytes(b"\x00" * 64)  # not a video at all
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
        "talk.mp4",
    }
    assert all(reason for reason in failed.values())
    assert sorted((Path(f.path).name, f.reason) for f in report.skipped) == [
        ("inside.xyz", "unsupported file type '.xyz'"),
    ]
    assert report.ingested == 1 and not report.ok
    assert rag.count() == stored + 1
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
    assert all(rag.media_file(p["image_ref"]).is_file() for p in pages)


def test_tenants_are_isolated_on_ingest_and_delete(make_rag, corpus: Path):
    rag = make_rag("clip")
    rag.ingest([corpus / "notes.md"], tenant="acme", progress=False)
    rag.ingest([corpus / "notes.md"], tenant="globex", progress=False)
    assert rag.count(tenant="acme") == rag.count(tenant="globex") > 0
    removed = rag.delete(corpus / "notes.md", tenant="acme")
    assert removed == rag.count(tenant="globex") + 1
    assert rag.count(tenant="acme") == 0 and rag.count(tenant="globex") > 0
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
    assert report.ok and set(qwen._store.stored_schema()) == {"text", "image", "video"}


# -- streaming, batching, incremental and crash-safe behaviour -------------------------------------------


class _Hooked:
    """A loader that delegates to a real one and calls ``hook(source, index)`` after each item is taken."""

    def __init__(self, inner, hook) -> None:
        self.inner, self.hook = inner, hook
        self.name, self.mime_types = inner.name, inner.mime_types

    def load(self, source):
        for index, item in enumerate(self.inner.load(source)):
            yield item
            self.hook(source, index)


class _SpyEmbedder:
    """Records the size of every document batch; ``gate`` (an Event) holds the first call until it is set."""

    def __init__(self, inner, gate: threading.Event | None = None) -> None:
        self.inner, self.gate = inner, gate
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.model_id, self.dimension, self.modalities = inner.model_id, inner.dimension, inner.modalities
        self.max_tokens = inner.max_tokens

    def encode_documents(self, inputs):
        self.entered.set()
        if self.gate is not None and not self.calls:
            assert self.gate.wait(30)
        self.calls.append(len(inputs))
        return self.inner.encode_documents(inputs)

    def encode_queries(self, inputs):
        return self.inner.encode_queries(inputs)

    def token_spans(self, text):
        return self.inner.token_spans(text)


def _pipeline(rag, *, embedders=None, hook=None):
    """A pipeline over ``rag``'s store and models; ``hook`` wraps every loader with :class:`_Hooked`."""
    from ingest.pipeline import IngestPipeline, build_loaders

    rag._store.ensure_collection(rag.schema)
    loaders = build_loaders(rag.settings, rag.models.embedders.get("text"))
    if hook is not None:
        for loader in {id(loaders.for_source(s)): loaders.for_source(s) for s in _one_source_per_loader()}.values():
            loaders.register(_Hooked(loader, hook), replace=True)
    return IngestPipeline(
        settings=rag.settings,
        embedders=embedders if embedders is not None else rag.models.embedders,
        store=rag._store,
        media=rag._media,
        loaders=loaders,
        profile=rag.models.profile,
    )


def _one_source_per_loader():
    from rag.records import Source

    for mime in ("text/plain", "image/png", "application/pdf"):
        yield Source(path=Path("/x"), source_id="/x", mime_type=mime, size=1)


def _snapshot(rag):
    return collection_snapshot(rag._store, rag._media.root)


def _settled(*counters: list, quiet: float = 0.3, most: float = 2.0) -> None:
    """Wait until none of the lists has grown for ``quiet`` seconds (at most ``most``): the loader ran ahead as
    far as it may and is blocked. Faster than a fixed sleep, and as strict: a loader that never stops keeps
    growing a list, so the bounds checked after this still catch it."""
    deadline = time.monotonic() + most
    sizes = [len(c) for c in counters]
    still = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.02)
        now = [len(c) for c in counters]
        if now != sizes:
            sizes, still = now, time.monotonic()
        elif time.monotonic() - still >= quiet:
            return


def _small_files(root: Path, count: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = root / f"f{index:03d}.txt"
        path.write_text(f"File number {index} talks about topic {index % 7}.\n")
        paths.append(path)
    return paths


def test_batches_span_files_and_unchanged_files_are_never_embedded_again(make_rag, tmp_path: Path):
    rag = make_rag("minilm", models={"batch_size": 2})  # 16 text items per embedding call
    _small_files(tmp_path / "many", 20)
    spy = _SpyEmbedder(rag.models.embedders["text"])
    report = _pipeline(rag, embedders={"text": spy}).run([tmp_path / "many"], tenant="default", progress=False)
    assert report.ok and report.ingested == 20 and report.points_written == 20
    assert spy.calls == [16, 4]  # one file holds one chunk: the batches are made across files
    again = _pipeline(rag, embedders={"text": spy}).run([tmp_path / "many"], tenant="default", progress=False)
    assert again.unchanged == 20 and again.ingested == 0 and spy.calls == [16, 4]
    assert_consistent(_snapshot(rag))


def test_discovery_streams_and_loading_runs_ahead_of_embedding_only_so_far(make_rag, tmp_path: Path):
    rag = make_rag("minilm", models={"batch_size": 1})  # 8 items per embedding call, 16 queued at most
    files = _small_files(tmp_path / "many", 60)
    gate = threading.Event()
    spy = _SpyEmbedder(rag.models.embedders["text"], gate=gate)
    loaded: list[str] = []
    handed_out: list[Path] = []

    def paths():
        for path in files:
            handed_out.append(path)
            yield path

    pipeline = _pipeline(rag, embedders={"text": spy}, hook=lambda source, index: loaded.append(source.name))
    result: list[IngestReport] = []
    worker = threading.Thread(target=lambda: result.append(pipeline.run(paths(), tenant="default", progress=False)))
    worker.start()
    try:
        assert spy.entered.wait(30)
        _settled(loaded, handed_out)  # the loader ran ahead as far as it may
        # 8 items being embedded + 16 queued + 1 waiting to be queued; the rest is not even discovered
        assert 8 < len(loaded) <= 25
        assert len(handed_out) <= 27
    finally:
        gate.set()
        worker.join(60)
    assert result and result[0].ingested == 60 and len(loaded) == 60


def test_on_progress_runs_once_per_file_after_the_file_is_final(make_rag, corpus: Path):
    rag = make_rag("clip")
    (corpus / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    seen: list[tuple[str, int, bool]] = []

    def on_progress(report: IngestReport, path: str) -> None:
        record = rag._store.get_source("default", path)
        failed = any(f.path == path for f in report.failed)
        seen.append((Path(path).name, report.files_seen, record is not None or failed))

    report = rag.ingest([corpus], progress=False, on_progress=on_progress)
    assert sorted(name for name, _, _ in seen) == ["broken.png", "notes.md", "plain.txt", "red.png", "report.pdf"]
    assert [n for _, n, _ in seen] == [1, 2, 3, 4, 5] and report.files_seen == 5
    assert all(final for _, _, final in seen)  # the record was written before the hook ran


def test_fail_fast_stops_at_the_first_failure_and_leaves_nothing_half_written(make_rag, tmp_path: Path):
    rag = make_rag("clip", models={"batch_size": 1})
    root = tmp_path / "ff"
    _small_files(root, 3)  # f000..f002 come first
    (root / "g-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _pdf(root / "h-report.pdf", ["Page one.", "Page two."])  # loaded (renders saved) while g fails
    _small_files(root / "z", 10)
    report = rag.ingest([root], progress=False, fail_fast=True)
    assert [Path(f.path).name for f in report.failed] == ["g-broken.png"]
    assert report.stopped and "g-broken.png" in report.stopped
    assert report.ingested == 3 and report.files_seen == 4
    assert sorted(s.name for s in rag.sources()) == ["f000.txt", "f001.txt", "f002.txt"]
    assert_consistent(_snapshot(rag))  # nothing of h-report.pdf or z/ stayed behind, images included

    rest = rag.ingest([root], progress=False)
    assert rest.unchanged == 3 and rest.ingested == 11 and len(rest.failed) == 1 and rest.stopped is None
    assert_consistent(_snapshot(rag))


SMALL_CHUNKS = {"tokens": 32, "overlap": 4}


def _long_text(word: str, paragraphs: int = 30) -> str:
    return "\n\n".join(f"Paragraph {i} says {word} again and again, " * 6 for i in range(paragraphs))


def test_a_file_changed_while_it_is_loaded_fails_and_keeps_the_stored_version(make_rag, tmp_path: Path):
    rag = make_rag("minilm", models={"batch_size": 1}, chunking=SMALL_CHUNKS)
    doc = tmp_path / "doc.txt"
    doc.write_text(_long_text("alpha"))
    rag.ingest([doc], progress=False)
    before = _snapshot(rag)
    doc.write_text(_long_text("beta"))

    def rewrite(source, index):
        if index == 10:  # some points of the new version are already stored by now
            with source.path.open("a") as fh:
                fh.write("\n\nA late addition.\n")

    report = _pipeline(rag, hook=rewrite).run([doc], tenant="default", progress=False)
    assert [f.reason for f in report.failed] == [
        "file changed while it was being ingested (the stored version, if any, is kept; run again)"
    ]
    assert_same_collection(_snapshot(rag), before)
    again = rag.ingest([doc], progress=False)
    assert again.ingested == 1 and again.ok
    snap = _snapshot(rag)
    assert_consistent(snap)
    assert any("late addition" in (p["payload"].get("text") or "") for p in snap["points"].values())


def test_a_file_that_vanishes_while_it_is_loaded_fails_and_keeps_the_stored_version(make_rag, tmp_path: Path):
    rag = make_rag("minilm", models={"batch_size": 1})
    doc = tmp_path / "doc.md"
    doc.write_text(_long_text("alpha"))
    rag.ingest([doc], progress=False)
    before = _snapshot(rag)
    doc.write_text(_long_text("beta"))
    report = _pipeline(rag, hook=lambda source, index: source.path.unlink(missing_ok=True)).run(
        [doc], tenant="default", progress=False
    )
    assert [f.reason for f in report.failed] == [
        "file vanished while it was being ingested (the stored version, if any, is kept)"
    ]
    assert_same_collection(_snapshot(rag), before)


def test_a_loader_error_after_points_were_stored_removes_the_partial_version(
    make_rag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from rag.errors import SourceLoadError

    rag = make_rag("minilm", models={"batch_size": 1}, chunking=SMALL_CHUNKS)
    doc = tmp_path / "doc.txt"
    doc.write_text(_long_text("alpha", 4))
    rag.ingest([doc], progress=False)
    before = _snapshot(rag)
    doc.write_text(_long_text("beta"))
    upserted: list[str] = []
    real_upsert = rag._store.upsert

    def spy_upsert(records):
        upserted.extend(r.payload["content_hash"] for r in records)
        real_upsert(records)

    monkeypatch.setattr(rag._store, "upsert", spy_upsert)

    def fail(source, index):
        if index == 20:
            raise SourceLoadError("damaged in the middle", source=str(source.path))

    report = _pipeline(rag, hook=fail).run([doc], tenant="default", progress=False)
    assert [f.reason for f in report.failed] == ["damaged in the middle"]
    new_hash = file_sha256(doc)
    assert upserted.count(new_hash) >= 8  # points of the new version had been stored ...
    assert_same_collection(_snapshot(rag), before)  # ... and are gone again; the old version is intact


def test_parallel_pipelines_over_one_store_end_like_one_run(make_rag, corpus: Path, tmp_path: Path):
    _small_files(corpus / "more", 12)
    reference = make_rag("clip", data_dir=tmp_path / "reference", models={"batch_size": 2})
    assert reference.ingest([corpus], progress=False).ok
    expected = _snapshot(reference)

    rag = make_rag("clip", data_dir=tmp_path / "parallel", models={"batch_size": 2})
    reports: list[IngestReport] = []
    overlapping = ([corpus / "more", corpus], [corpus, corpus / "sub" / "plain.txt"])
    threads = [threading.Thread(target=lambda p=p: reports.append(rag.ingest(p, progress=False))) for p in overlapping]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(reports) == 2 and all(r.ok for r in reports)
    assert sum(r.ingested + r.unchanged for r in reports) >= 16  # every file done by one worker or both
    actual = _snapshot(rag)
    assert_same_collection(actual, expected)  # media references are relative: the same in both stores
    assert_consistent(actual)


def test_decoded_images_waiting_for_the_model_are_bounded(make_rag, tmp_path: Path):
    rag = make_rag("clip", models={"batch_size": 1})  # 2 images per embedding call, 4 in flight at most
    root = tmp_path / "pictures"
    root.mkdir()
    for index in range(20):
        _png(root / f"p{index:02d}.png", (index * 12, 80, 160))
    gate = threading.Event()
    spy = _SpyEmbedder(rag.models.embedders["image"], gate=gate)
    taken: list[str] = []
    pipeline = _pipeline(
        rag,
        embedders={"text": rag.models.embedders["text"], "image": spy},
        hook=lambda source, index: taken.append(source.name),
    )
    result: list[IngestReport] = []
    worker = threading.Thread(target=lambda: result.append(pipeline.run([root], tenant="default", progress=False)))
    worker.start()
    try:
        assert spy.entered.wait(30)
        _settled(taken)
        assert 2 <= len(taken) <= 4  # 2 in the model, 2 queued; the loader waits before decoding more
    finally:
        gate.set()
        worker.join(60)
    assert result and result[0].ingested == 20 and spy.calls == [2] * 10


def test_the_embedded_store_scans_for_stale_points_only_for_sources_it_already_had(make_rag, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(4):
        (docs / f"d{i}.md").write_text(f"# Doc {i}\n\nbody {i}\n")
    rag = make_rag("minilm")
    calls: list[dict[str, str]] = []
    original = rag._store.delete_stale_many
    rag._store.delete_stale_many = lambda tenant, keep: calls.append(dict(keep)) or original(tenant, keep)
    rag.ingest([docs], progress=False)
    assert calls == []  # new sources: nothing of theirs was stored before this run
    (docs / "d1.md").write_text("# Doc 1\n\nchanged\n")
    (docs / "d9.md").write_text("# Doc 9\n\nnew\n")
    report = rag.ingest([docs], progress=False)
    assert [sorted(Path(s).name for s in keep) for keep in calls] == [["d1.md"]]
    assert report.points_deleted == 1
