"""PDF files with pypdfium2: per page, one rendered ``page`` item and the page text's ``text`` chunks.

Each text chunk carries where its characters are on the page (``extra["anchors"]``, :mod:`rag.regions`): the
boxes of its line runs, from PDFium's text rectangles (one call per line, and a few more, bisecting, where
PDFium makes several rectangles of one line: columns, table cells, a change of font), so an answer can
highlight the sentence it cites on the page render.

Pages are processed one at a time (rendered, text extracted, PDFium objects closed) before anything is
yielded, so memory stays bounded by one page. The render scale is ``render_dpi / 72``, lowered for huge pages
so that no render exceeds ``max_pixels``.

PDFium is not thread-safe, not even across different documents, so every PDFium call here runs under one
module-wide lock; other code that calls pypdfium2 in this process should not run concurrently with it.
"""

from __future__ import annotations

import bisect
import ctypes
import logging
import math
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from ingest.chunking import Chunker
from ingest.imaging import fit_pixels
from ingest.loaders.base import require_nonempty
from rag.errors import SourceLoadError
from rag.records import Anchor, Item, Source
from rag.regions import ANCHORS, chunk_anchors

__all__ = ["PdfLoader", "normalize_page_text"]

logger = logging.getLogger(__name__)

_PDFIUM_LOCK = threading.RLock()
_POINTS_PER_INCH = 72
# Control characters PDFium emits (e.g. \x02 at hyphenated line ends), except tab and newline.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
# What normalize_page_text drops from PDFium's text: the \r of \r\n, and the control characters.
_DROPPED = re.compile(r"\r(?=\n)|" + _CONTROLS.pattern)
_LINE = re.compile(r"[^\r\n]+")
# Page -> render coordinates are asked of PDFium for a square "device" this many units wide: fractions to 1e-6.
_DEVICE = 1_000_000
# Runs of one line closer than this many line heights are one run; farther apart (columns, table cells), two.
_RUN_GAP = 1.0


def normalize_page_text(text: str) -> str:
    """PDFium's page text with ``\\n`` line ends and without stray control characters."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


class PdfLoader:
    """Yields, for page ``n`` (1-based): ``Item(kind="page", locator="page-n")`` with the rendered page and its
    text, then ``Item(kind="text", locator="page-n/chunk-i")`` per chunk of that text, with ``char_span``
    relative to the page text."""

    name = "pdf"
    mime_types = frozenset({"application/pdf"})

    def __init__(self, chunker: Chunker, render_dpi: int, max_pages: int, max_pixels: int) -> None:
        if render_dpi < 1 or max_pages < 1 or max_pixels < 1:
            raise ValueError("render_dpi, max_pages and max_pixels must be positive")
        self.chunker = chunker
        self.render_dpi = render_dpi
        self.max_pages = max_pages
        self.max_pixels = max_pixels

    def load(self, source: Source) -> Iterator[Item]:
        path = source.path
        where = str(path)
        require_nonempty(path)
        with _PDFIUM_LOCK:
            pdf = _open(path)
        try:
            with _PDFIUM_LOCK:
                pages = len(pdf)
                title = _title(pdf) or path.stem or path.name
            if pages == 0:
                raise SourceLoadError("PDF has no pages", source=where)
            if pages > self.max_pages:
                raise SourceLoadError(
                    f"PDF has {pages} pages, over the cap of {self.max_pages} (pdf.max_pages)", source=where
                )
            for number in range(1, pages + 1):
                with _PDFIUM_LOCK:
                    image, text, lines = self._read_page(pdf, number, pages, where)
                yield Item(
                    kind="page",
                    locator=f"page-{number}",
                    image=fit_pixels(image, self.max_pixels),
                    text=text if text.strip() else None,
                    page=number,
                    title=title,
                )
                for index, chunk in enumerate(self.chunker.chunk(text)):
                    anchors = chunk_anchors(lines, chunk.start, chunk.end)
                    yield Item(
                        kind="text",
                        locator=f"page-{number}/chunk-{index}",
                        text=chunk.text,
                        page=number,
                        char_span=(chunk.start, chunk.end),
                        title=title,
                        extra={ANCHORS: anchors} if anchors else {},
                    )
        finally:
            with _PDFIUM_LOCK:
                pdf.close()

    def _read_page(
        self, pdf: pdfium.PdfDocument, number: int, pages: int, where: str
    ) -> tuple[Image.Image, str, list[Anchor]]:
        """Render page ``number`` to RGB and extract its text and line boxes; PDFium objects are closed before
        returning."""
        page = None
        try:
            page = pdf[number - 1]
            width_pt, height_pt = page.get_size()
            bitmap = page.render(scale=self._scale(width_pt, height_pt))
            try:
                rendered = bitmap.to_pil()
                # A copy that owns its pixels: the bitmap's buffer is freed on close.
                image = rendered.convert("RGB") if rendered.mode != "RGB" else rendered.copy()
            finally:
                bitmap.close()
            textpage = page.get_textpage()
            try:
                raw = textpage.get_text_range()
                text = normalize_page_text(raw)
                lines = _line_runs(page, textpage, raw, text)
            finally:
                textpage.close()
        except pdfium.PdfiumError as exc:
            raise SourceLoadError(f"page {number} of {pages} cannot be read: {exc}", source=where) from exc
        finally:
            if page is not None:
                page.close()
        return image, text, lines

    def _scale(self, width_pt: float, height_pt: float) -> float:
        scale = self.render_dpi / _POINTS_PER_INCH
        area_pt = max(width_pt, 1.0) * max(height_pt, 1.0)
        if area_pt * scale * scale > self.max_pixels:
            scale = math.sqrt(self.max_pixels / area_pt)
            logger.debug("large PDF page (%.0fx%.0f pt): rendering at scale %.3f", width_pt, height_pt, scale)
        return scale


def _open(path: Path) -> pdfium.PdfDocument:
    """Open with PDFium's own loader so that a failure's error code is the fresh one.

    (``pdfium.PdfDocument(path)`` also fails for documents without pages, and then reports whatever error
    code an earlier, unrelated failure left behind: PDFium sets its last error only when loading fails.)
    """
    encoded = (os.fspath(path) + "\x00").encode("utf-8", errors="surrogateescape")
    handle = pdfium_c.FPDF_LoadDocument(encoded, None)
    if not handle:
        raise SourceLoadError(_open_reason(pdfium_c.FPDF_GetLastError()), source=str(path))
    return pdfium.PdfDocument(handle)


def _open_reason(code: int) -> str:
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return "encrypted PDF (password required)"
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return "encrypted PDF (unsupported security handler)"
    if code == pdfium_c.FPDF_ERR_FORMAT:
        return "corrupt or truncated PDF: PDFium cannot parse it (data format error)"
    if code == pdfium_c.FPDF_ERR_FILE:
        return "cannot read file: PDFium cannot open it (missing or unreadable)"
    return f"cannot open PDF: PDFium error code {code}"


def _title(pdf: pdfium.PdfDocument) -> str | None:
    try:
        title = pdf.get_metadata_value("Title")
    except pdfium.PdfiumError as exc:
        logger.debug("cannot read PDF metadata: %s", exc)
        return None
    title = " ".join(title.split()) if isinstance(title, str) else ""
    return title or None


def _line_runs(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, raw: str, text: str) -> list[Anchor]:
    """The page's line runs as anchors (:mod:`rag.regions`): char range in ``text`` (the normalised ``raw``)
    and box on the render. Empty when PDFium's text and its character count disagree (characters beyond the
    Basic Multilingual Plane are two in PDFium's count): no boxes rather than misplaced ones."""
    dropped = [m.start() for m in _DROPPED.finditer(raw)]
    if len(raw) != textpage.count_chars() or len(text) != len(raw) - len(dropped):
        logger.debug("page text and PDFium's character count disagree: no boxes for this page")
        return []
    out: list[Anchor] = []
    for line in _LINE.finditer(raw):
        start, end = line.span()
        if not raw[start:end].strip():
            continue
        for a, b, box in _runs(textpage, start, end):
            xs, ys = _to_render(page, box[0], box[3])  # the run's first corner: left, top in PDF space
            xe, ye = _to_render(page, box[2], box[1])
            out.append((a - bisect.bisect_left(dropped, a), b - bisect.bisect_left(dropped, b), xs, ys, xe, ye))
    return out


Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF page space


def _runs(textpage: pdfium.PdfTextPage, start: int, end: int) -> list[tuple[int, int, Box]]:
    """Chars ``[start, end)`` of one text line as runs with their boxes: PDFium's rectangles of the range, those
    closer than :data:`_RUN_GAP` line heights joined (columns and table cells stay apart)."""
    count = textpage.count_rects(start, end - start)
    rects: list[Box] = [textpage.get_rect(i) for i in range(count)]
    if not rects:
        return []
    if len(rects) == 1:
        return [(start, end, rects[0])]
    # Several rectangles, in text order: where each begins, by bisection on how many rectangles a prefix of
    # the line makes (a few PDFium calls per rectangle rather than one per character).
    firsts = [start]
    for k in range(1, len(rects)):
        lo, hi = firsts[-1] + 1, end
        while lo < hi:
            mid = (lo + hi) // 2
            if textpage.count_rects(start, mid - start) > k:
                hi = mid
            else:
                lo = mid + 1
        firsts.append(lo - 1)
    firsts.append(end)
    runs: list[tuple[int, int, Box]] = []
    for j, rect in enumerate(rects):
        a, b = firsts[j], firsts[j + 1]
        if a >= b:
            continue
        if runs:
            pa, _, (x0, y0, x1, y1) = runs[-1]
            height = max(y1 - y0, rect[3] - rect[1], 1.0)
            if rect[0] - x1 < _RUN_GAP * height and min(y1, rect[3]) > max(y0, rect[1]):
                runs[-1] = (pa, b, (min(x0, rect[0]), min(y0, rect[1]), max(x1, rect[2]), max(y1, rect[3])))
                continue
        runs.append((a, b, rect))
    return runs


def _to_render(page: pdfium.PdfPage, x: float, y: float) -> tuple[float, float]:
    """A point of PDF page space as fractions (0-1) of the page as rendered: PDFium applies the page's rotation
    and crop box as it does when rendering."""
    dx, dy = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDF_PageToDevice(page, 0, 0, _DEVICE, _DEVICE, 0, x, y, dx, dy)
    return (
        round(min(1.0, max(0.0, dx.value / _DEVICE)), 4),
        round(min(1.0, max(0.0, dy.value / _DEVICE)), 4),
    )
