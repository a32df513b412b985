from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.chunking import Chunker, TokenSpans
from ingest.loaders.text import TextLoader, extract_html, markdown_title, rst_title
from rag.errors import IngestError, UnsupportedSourceError
from rag.records import Item, Source

SourceFactory = Callable[[Path], Source]


@pytest.fixture
def loader(minilm_spans: TokenSpans) -> TextLoader:
    return TextLoader(Chunker(minilm_spans, 32, 8))


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def load(loader: TextLoader, make_source: SourceFactory, path: Path) -> list[Item]:
    return list(loader.load(make_source(path)))


def test_plain_text_is_chunked_with_exact_spans(
    loader: TextLoader, make_source: SourceFactory, tmp_path: Path, minilm_spans: TokenSpans
) -> None:
    text = "\n\n".join(f"Paragraph {n}. It talks about solar panels and inverters." for n in range(20))
    items = load(loader, make_source, write(tmp_path / "notes.txt", text))
    assert len(items) > 3
    assert [item.locator for item in items] == [f"chunk-{i}" for i in range(len(items))]
    for item in items:
        assert (item.kind, item.modality, item.title, item.image, item.page) == ("text", "text", "notes", None, None)
        assert item.char_span is not None and item.text == text[item.char_span[0] : item.char_span[1]]
        assert len(minilm_spans(item.text)) <= 32
    assert "Paragraph 0." in (items[0].text or "") and "Paragraph 19." in (items[-1].text or "")


def test_markdown_title_and_text_kept_as_is(loader: TextLoader, make_source: SourceFactory, tmp_path: Path) -> None:
    text = "```\n# not a title\n```\n\n## Sub\n\n# Real Title #\n\nSome **bold** text."
    items = load(loader, make_source, write(tmp_path / "doc.md", text))
    assert {item.title for item in items} == {"Real Title"}
    assert "**bold**" in (items[-1].text or "")
    assert all(text[s:e] == item.text for item in items for s, e in [item.char_span or (0, 0)])


def test_markdown_without_heading_uses_the_file_stem(
    loader: TextLoader, make_source: SourceFactory, tmp_path: Path
) -> None:
    items = load(loader, make_source, write(tmp_path / "my-notes.markdown", "Just text."))
    assert items[0].title == "my-notes"


def test_rst_title(loader: TextLoader, make_source: SourceFactory, tmp_path: Path) -> None:
    text = "=========\nUser Guide\n==========\n\nIntro text.\n\nSection\n-------\n"
    assert load(loader, make_source, write(tmp_path / "guide.rst", text))[0].title == "User Guide"
    assert rst_title("no title here\n\njust text") is None


def test_html_visible_text_and_title(loader: TextLoader, make_source: SourceFactory, tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title> Solar &amp; Wind </title>
    <style>body { color: red }</style><script>var hidden = "SCRIPT";</script></head>
    <body><h1>Heading</h1><p>First   para with <b>bold</b> and &eacute;t&eacute; &lt;tags&gt;.</p>
    <noscript>NOSCRIPT</noscript><template>TEMPLATE</template>
    <ul><li>one</li><li>two</li></ul>line<br>break<table><tr><td>a</td><td>b</td></tr></table></body></html>"""
    items = load(loader, make_source, write(tmp_path / "page.html", html))
    text = "\n".join(item.text or "" for item in items)
    assert items[0].title == "Solar & Wind"
    assert "First para with bold and été <tags>." in text
    for hidden in ("SCRIPT", "NOSCRIPT", "TEMPLATE", "color", "Solar"):
        assert hidden not in text
    extracted, _ = extract_html(html)
    assert "Heading\n\nFirst para" in extracted and "one\ntwo" in extracted and "line\nbreak" in extracted
    assert all(extracted[s:e] == item.text for item in items for s, e in [item.char_span or (0, 0)])


def test_html_declared_charset_is_used(loader: TextLoader, make_source: SourceFactory, tmp_path: Path) -> None:
    html = '<html><head><meta charset="iso-8859-7"></head><body><p>αβγ</p></body></html>'.encode("iso-8859-7")
    items = load(loader, make_source, write(tmp_path / "greek.htm", html))
    assert items[0].text == "αβγ"


def test_latin1_text_is_decoded_with_a_warning(
    loader: TextLoader, make_source: SourceFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "legacy.txt", "Café crème, déjà vu. Ça va?".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="ingest.loaders.text"):
        items = load(loader, make_source, path)
    assert items[0].text == "Café crème, déjà vu. Ça va?"
    assert any(
        "not valid UTF-8" in record.getMessage() and str(path.resolve()) in record.getMessage()
        for record in caplog.records
    )


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("\ufeffWith BOM.".encode(), "With BOM."),
        ("UTF-16 text ✓.".encode("utf-16"), "UTF-16 text ✓."),
        ("UTF-16 BE.".encode("utf-16-be").join([b"\xfe\xff", b""]), "UTF-16 BE."),
        ("UTF-32 text.".encode("utf-32"), "UTF-32 text."),
        ("cp1252 “quotes” €5.".encode("cp1252"), "cp1252 “quotes” €5."),
    ],
)
def test_encodings(
    loader: TextLoader, make_source: SourceFactory, tmp_path: Path, encoded: bytes, expected: str
) -> None:
    assert [item.text for item in load(loader, make_source, write(tmp_path / "enc.txt", encoded))] == [expected]


@pytest.mark.parametrize(
    ("name", "data", "error", "reason"),
    [
        ("empty.txt", b"", UnsupportedSourceError, "empty file"),
        ("blank.md", b" \n\t\r\n  \n", UnsupportedSourceError, "empty file"),
        ("scripts.html", b"<html><script>x()</script><style>p{}</style></html>", UnsupportedSourceError, "empty file"),
        ("nul.txt", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 4, UnsupportedSourceError, "binary content"),
        ("controls.md", bytes(range(1, 9)) * 200, UnsupportedSourceError, "binary content"),
        ("bad16.txt", b"\xff\xfe" + b"\x00\xd8", UnsupportedSourceError, "invalid utf-16"),
    ],
)
def test_bad_inputs(
    loader: TextLoader,
    make_source: SourceFactory,
    tmp_path: Path,
    name: str,
    data: bytes,
    error: type[IngestError],
    reason: str,
) -> None:
    path = write(tmp_path / name, data)
    with pytest.raises(error) as info:
        load(loader, make_source, path)
    assert info.value.message.startswith(reason), info.value.message
    assert info.value.source == str(path.resolve())
    assert str(path.resolve()) in str(info.value)


def test_markdown_title_helper() -> None:
    assert markdown_title("intro\n#NoSpace\n   # Indented Title ##  \n# Second") == "Indented Title"
    assert markdown_title("    # indented code, not a heading") is None
