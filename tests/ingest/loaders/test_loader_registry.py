from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ingest.loaders
from ingest.chunking import Chunker
from ingest.loaders.base import Loader, LoaderRegistry
from ingest.loaders.image import ImageLoader
from ingest.loaders.pdf import PdfLoader
from ingest.loaders.text import TextLoader
from ingest.loaders.video import VideoLoader
from rag.errors import UnsupportedSourceError
from rag.records import Item, Source


def words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


CHUNKER = Chunker(words, 32, 4)


class FakeLoader:
    name = "fake"
    mime_types = frozenset({"text/plain"})

    def load(self, source: Source) -> Iterator[Item]:
        yield Item(kind="text", locator="chunk-0", text="x")


def all_loaders() -> list[Loader]:
    return [
        TextLoader(CHUNKER),
        ImageLoader(max_pixels=1024, max_source_pixels=10**6),
        PdfLoader(CHUNKER, 72, 10, 4096),
        VideoLoader(CHUNKER),
    ]


def test_every_loader_satisfies_the_protocol() -> None:
    for loader in all_loaders():
        assert isinstance(loader, Loader)
        assert loader.name and loader.mime_types


def test_registry_picks_the_loader_by_mime_type(tmp_path: Path, make_source: Callable[[Path], Source]) -> None:
    registry = LoaderRegistry(all_loaders())
    pairs = [("a.md", "text"), ("b.html", "text"), ("c.webp", "image"), ("d.pdf", "pdf"), ("e.mkv", "video")]
    for name, expected in pairs:
        path = tmp_path / name
        path.write_bytes(b"x")
        assert registry.for_source(make_source(path)).name == expected
    assert {"application/pdf", "video/mp4", "video/webm"} <= registry.mime_types


def test_unknown_type_raises_unsupported_naming_the_file(tmp_path: Path, make_source: Callable[[Path], Source]) -> None:
    path = tmp_path / "talk.mp4"
    path.write_bytes(b"x")
    without_video = [loader for loader in all_loaders() if loader.name != "video"]
    with pytest.raises(UnsupportedSourceError, match="no loader for video/mp4 files") as info:
        LoaderRegistry(without_video).for_source(make_source(path))
    assert info.value.source == str(path.resolve()) and str(path.resolve()) in str(info.value)


def test_a_type_is_registered_once_unless_replaced(tmp_path: Path, make_source: Callable[[Path], Source]) -> None:
    registry = LoaderRegistry([TextLoader(CHUNKER)])
    with pytest.raises(ValueError, match="text/plain"):
        registry.register(FakeLoader())
    registry.register(FakeLoader(), replace=True)
    path = tmp_path / "a.txt"
    path.write_text("hi")
    assert registry.for_source(make_source(path)).name == "fake"


def test_package_exports() -> None:
    assert set(ingest.loaders.__all__) == {"Loader", "LoaderRegistry"}
    assert all(hasattr(ingest.loaders, name) for name in ingest.loaders.__all__)


def test_constructors_validate_settings() -> None:
    with pytest.raises(ValueError):
        ImageLoader(max_pixels=0, max_source_pixels=10)
    with pytest.raises(ValueError):
        PdfLoader(CHUNKER, render_dpi=72, max_pages=0, max_pixels=100)
