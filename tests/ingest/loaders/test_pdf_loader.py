from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from ingest.chunking import Chunker, TokenSpans
from ingest.loaders.pdf import PdfLoader
from rag.errors import IngestError, SourceLoadError, UnsupportedSourceError
from rag.records import Item, Source

SourceFactory = Callable[[Path], Source]
PdfFactory = Callable[..., Path]

PAGE_TEXTS = [
    "Page one is about solar panels. " * 12,
    "Page two is about wind turbines. " * 12,
    "Page three is about batteries. " * 12,
]


@pytest.fixture
def chunker(minilm_spans: TokenSpans) -> Chunker:
    return Chunker(minilm_spans, 32, 8)


def loader(chunker: Chunker, *, render_dpi: int = 72, max_pages: int = 10, max_pixels: int = 1_000_000) -> PdfLoader:
    return PdfLoader(chunker, render_dpi=render_dpi, max_pages=max_pages, max_pixels=max_pixels)


def minimal_pdf(path: Path, objects: list[str]) -> Path:
    """A hand-made PDF (fpdf2 cannot write page-less or broken page trees)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def red_pixels(image: Image.Image) -> int:
    pixels = np.asarray(image, dtype=np.int16)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(((red > 200) & (green < 60) & (blue < 60)).sum())


def test_pages_then_their_chunks(
    chunker: Chunker, make_pdf: PdfFactory, make_source: SourceFactory, minilm_spans: TokenSpans
) -> None:
    path = make_pdf("report.pdf", PAGE_TEXTS, title="Energy Report")
    items = list(loader(chunker).load(make_source(path)))
    pages = [item for item in items if item.kind == "page"]
    assert [page.locator for page in pages] == ["page-1", "page-2", "page-3"]
    assert [page.page for page in pages] == [1, 2, 3]
    current: Item | None = None
    chunk_index = 0
    for item in items:
        assert item.title == "Energy Report"
        if item.kind == "page":
            current, chunk_index = item, 0
            assert item.image is not None and item.image.mode == "RGB"
            assert abs(item.image.width - 595) <= 1 and abs(item.image.height - 842) <= 1  # A4 at 72 dpi
            assert red_pixels(item.image) > 1000, "the drawn image is missing from the render"
            continue
        assert current is not None and current.text is not None
        assert item.kind == "text" and item.page == current.page and item.image is None
        assert item.locator == f"page-{current.page}/chunk-{chunk_index}"
        assert item.char_span is not None and current.text[item.char_span[0] : item.char_span[1]] == item.text
        assert len(minilm_spans(item.text or "")) <= 32
        chunk_index += 1
    assert pages[1].text is not None and "Page two is about wind turbines." in pages[1].text
    assert "\r" not in pages[1].text
    assert sum(1 for item in items if item.kind == "text" and item.page == 2) >= 3


def test_title_falls_back_to_the_file_stem(chunker: Chunker, make_pdf: PdfFactory, make_source: SourceFactory) -> None:
    items = list(loader(chunker).load(make_source(make_pdf("untitled-notes.pdf"))))
    assert {item.title for item in items} == {"untitled-notes"}


def test_render_dpi_and_max_pixels(chunker: Chunker, make_pdf: PdfFactory, make_source: SourceFactory) -> None:
    source = make_source(make_pdf("a4.pdf", image=False))
    [page] = [
        item for item in loader(chunker, render_dpi=144, max_pixels=3_000_000).load(source) if item.kind == "page"
    ]
    assert page.image is not None and abs(page.image.width - 1191) <= 1 and abs(page.image.height - 1684) <= 1
    [small] = [item for item in loader(chunker, render_dpi=144, max_pixels=50_000).load(source) if item.kind == "page"]
    assert small.image is not None and small.image.width * small.image.height <= 50_000
    assert small.image.width > 150


def test_owner_password_only_opens(chunker: Chunker, tmp_path: Path, make_source: SourceFactory) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Permissions only, no user password.")
    pdf.set_encryption(owner_password="owner")
    pdf.output(str(tmp_path / "owner.pdf"))
    items = list(loader(chunker).load(make_source(tmp_path / "owner.pdf")))
    assert items[0].text is not None and "no user password" in items[0].text


def test_pdfium_objects_are_closed_when_the_consumer_stops_early(
    chunker: Chunker, make_pdf: PdfFactory, make_source: SourceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[object] = []
    original = pdfium.PdfDocument.close

    def spy(self: pdfium.PdfDocument) -> None:
        closed.append(self)
        original(self)

    monkeypatch.setattr(pdfium.PdfDocument, "close", spy)
    items = loader(chunker).load(make_source(make_pdf("doc.pdf", PAGE_TEXTS)))
    assert isinstance(items, Generator)
    assert next(items).locator == "page-1"
    assert not closed
    items.close()
    assert len(closed) == 1


def test_broken_page_names_the_page(chunker: Chunker, tmp_path: Path, make_source: SourceFactory) -> None:
    path = minimal_pdf(
        tmp_path / "broken-page.pdf",
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
            "(not a page dictionary)",
        ],
    )
    items = loader(chunker).load(make_source(path))
    first = next(items)
    assert (first.locator, first.image is not None) == ("page-1", True)
    with pytest.raises(SourceLoadError, match="page 2 of 2 cannot be read") as info:
        list(items)
    assert str(path.resolve()) in str(info.value)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("case", "error", "reason"),
    [
        ("empty", UnsupportedSourceError, "empty file"),
        ("garbage", SourceLoadError, "corrupt or truncated PDF"),
        ("truncated", SourceLoadError, "corrupt or truncated PDF"),
        ("encrypted", SourceLoadError, "encrypted PDF (password required)"),
        ("too-many-pages", SourceLoadError, "PDF has 3 pages, over the cap of 2 (pdf.max_pages)"),
        ("no-pages", SourceLoadError, "PDF has no pages"),
    ],
)
def test_bad_pdfs(
    chunker: Chunker,
    make_pdf: PdfFactory,
    make_source: SourceFactory,
    tmp_path: Path,
    case: str,
    error: type[IngestError],
    reason: str,
) -> None:
    path = tmp_path / f"{case}.pdf"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(b"%PDF-1.7\n" + b"\x8f garbage " * 100)
    elif case == "truncated":
        _truncated(make_pdf(path.name, PAGE_TEXTS))
    elif case == "encrypted":
        make_pdf(path.name, ["Top secret."], user_password="letmein")
    elif case == "too-many-pages":
        make_pdf(path.name, PAGE_TEXTS)
    else:
        minimal_pdf(path, ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"])
    with pytest.raises(error) as info:
        list(loader(chunker, max_pages=2).load(make_source(path)))
    assert info.value.message.startswith(reason), info.value.message
    assert info.value.source == str(path.resolve()) and str(path.resolve()) in str(info.value)


def test_encrypted_fixture_really_needs_the_password(make_pdf: PdfFactory) -> None:
    """Guards the encrypted case above: the file is a real encrypted PDF, readable with its password."""
    path = make_pdf("locked.pdf", ["Top secret."], user_password="letmein")
    document = pdfium.PdfDocument(path, password="letmein")
    try:
        assert "Top secret." in document[0].get_textpage().get_text_range()
    finally:
        document.close()
