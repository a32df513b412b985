"""Plain text, Markdown, reStructuredText and HTML files, chunked in the embedding model's tokens.

Bytes are decoded as UTF-8 (a BOM is honoured, UTF-16/32 only with a BOM); other bytes fall back to cp1252
and then latin-1 with a logged warning, so a non-UTF-8 file never stops a run. HTML is reduced to its
visible text; Markdown and reStructuredText are chunked as they are. Character spans refer to the text
that was chunked (the decoded file, or the extracted text for HTML).
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from ingest.chunking import Chunker
from ingest.loaders.base import read_source_bytes
from rag.errors import UnsupportedSourceError
from rag.records import Item, Source

__all__ = ["TextLoader", "decode_text", "extract_html", "markdown_title", "rst_title"]

logger = logging.getLogger(__name__)

_SNIFF_BYTES = 8192
_MAX_CONTROL_RATIO = 0.1
# Control characters (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) other than the whitespace ones
# and ESC (ANSI colours in logs).
_BAD_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_ATX_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+\s*$")
_MAX_TITLE = 200


def decode_text(data: bytes, *, source: str, declared: str | None = None) -> str:
    """Decode file bytes to text; raises :class:`UnsupportedSourceError` for binary content.

    ``declared`` is an encoding named by the file itself (an HTML ``<meta charset>``); it is used when valid
    and the bytes are not UTF-8.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _check_printable(data.decode(encoding), source)
            except UnicodeDecodeError as exc:
                raise UnsupportedSourceError(f"invalid {encoding} text: {exc.reason}", source=source) from exc
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise UnsupportedSourceError("binary content in a text file (NUL bytes)", source=source)
    try:
        return _check_printable(data.decode("utf-8"), source)
    except UnicodeDecodeError:
        pass
    for fallback in (declared, "cp1252"):
        if fallback is None or _is_utf8(fallback):
            continue
        try:
            text = data.decode(fallback)
        except (UnicodeDecodeError, LookupError):  # LookupError: unknown or non-text codec
            continue
        logger.warning("%s: not valid UTF-8, decoded as %s", source, fallback)
        return _check_printable(text, source)
    logger.warning("%s: not valid UTF-8, decoded as latin-1", source)
    return _check_printable(data.decode("latin-1"), source)


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _check_printable(text: str, source: str) -> str:
    sample = text[:_SNIFF_BYTES]
    controls = len(_BAD_CONTROL.findall(sample))
    if sample and controls / len(sample) > _MAX_CONTROL_RATIO:
        raise UnsupportedSourceError("binary content in a text file (mostly non-printable)", source=source)
    return text


class _VisibleText(HTMLParser):
    """Collects the visible text of an HTML document and its ``<title>``."""

    _HIDDEN = frozenset({"script", "style", "noscript", "template"})
    _PARAGRAPH = frozenset(
        {
            "p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "blockquote", "pre",
            "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "form", "figure", "hr", "address",
            "details", "fieldset",
        }
    )  # fmt: skip
    _LINE = frozenset({"br", "li", "dt", "dd", "tr", "caption", "figcaption", "summary", "option", "legend"})
    _CELL = frozenset({"td", "th"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._HIDDEN:
            self._hidden += 1
        elif tag == "pre":
            self._pre += 1
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in self._PARAGRAPH:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._break(tag)  # <br/>, <hr/>: no content, so no hidden or title state to open

    def _break(self, tag: str) -> None:
        if tag in self._PARAGRAPH:
            self.parts.append("\n\n")
        elif tag in self._LINE:
            self.parts.append("\n")
        elif tag in self._CELL:
            self.parts.append("\t")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._hidden:
            self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def extract_html(html: str) -> tuple[str, str | None]:
    """The visible text of ``html`` (blocks separated by blank lines) and its ``<title>``, if any."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = re.sub(r"\s+", " ", "".join(parser.title_parts)).strip()
    return text, title or None


def markdown_title(text: str) -> str | None:
    """The first level-1 ATX heading (``# Title``) outside code fences."""
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and (match := _ATX_H1.match(line)):
            return match.group(1).strip() or None
    return None


def rst_title(text: str) -> str | None:
    """The first section title: a line underlined (maybe also overlined) with punctuation at least as long."""
    lines = text.splitlines()
    for index in range(len(lines) - 1):
        line, under = lines[index].strip(), lines[index + 1].rstrip()
        if line and not _RST_ADORNMENT.match(line) and _RST_ADORNMENT.match(under) and len(under) >= len(line):
            return line
    return None


def _truncate(title: str) -> str:
    return title if len(title) <= _MAX_TITLE else title[: _MAX_TITLE - 1].rstrip() + "…"


class TextLoader:
    """Loads text-like files and yields one ``text`` item per chunk (``chunk-0``, ``chunk-1``, ...)."""

    name = "text"
    mime_types = frozenset({"text/plain", "text/markdown", "text/x-rst", "text/html"})

    def __init__(self, chunker: Chunker) -> None:
        self.chunker = chunker

    def load(self, source: Source) -> Iterator[Item]:
        path = source.path
        data = read_source_bytes(path)
        text, title = self._extract(data, source.mime_type, str(path))
        if not text.strip():
            raise UnsupportedSourceError(
                "empty file (no visible text)" if source.mime_type == "text/html" else "empty file (whitespace only)",
                source=str(path),
            )
        title = _truncate(title or _stem(path))
        for index, chunk in enumerate(self.chunker.chunk(text)):
            span = (chunk.start, chunk.end)
            yield Item(kind="text", locator=f"chunk-{index}", text=chunk.text, char_span=span, title=title)

    @staticmethod
    def _extract(data: bytes, mime_type: str, source: str) -> tuple[str, str | None]:
        if mime_type == "text/html":
            match = _META_CHARSET.search(data[:4096])
            declared = match.group(1).decode("ascii") if match else None
            return extract_html(decode_text(data, source=source, declared=declared))
        text = decode_text(data, source=source)
        if mime_type == "text/markdown":
            return text, markdown_title(text)
        if mime_type == "text/x-rst":
            return text, rst_title(text)
        return text, None


def _stem(path: Path) -> str:
    return path.stem or path.name
