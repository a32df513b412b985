"""The loader role: turn one :class:`~rag.records.Source` into :class:`~rag.records.Item` records.

Loaders are cheap to construct (plain settings values, no models) and yield items lazily, so a large
document never sits in memory whole. They raise :class:`~rag.errors.UnsupportedSourceError` for inputs that
cannot be ingested by nature (empty, binary content with a text extension, no loader for the type) and
:class:`~rag.errors.SourceLoadError` for damaged or refused inputs (corrupt, truncated, encrypted, too large),
always with ``source=str(source.path)`` and a reason a person can act on. Errors surface while iterating.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from rag.errors import SourceLoadError, UnsupportedSourceError
from rag.records import Item, Source

__all__ = ["Loader", "LoaderRegistry", "read_source_bytes", "require_nonempty"]


@runtime_checkable
class Loader(Protocol):
    """Loads sources of the MIME types in ``mime_types``."""

    name: str
    mime_types: frozenset[str]

    def load(self, source: Source) -> Iterator[Item]:
        """Yield the items of ``source``; raise an :class:`~rag.errors.IngestError` for a bad source."""
        ...


class LoaderRegistry:
    """Picks the loader for a source by its MIME type; one loader per type."""

    def __init__(self, loaders: Iterable[Loader] = ()) -> None:
        self._by_mime: dict[str, Loader] = {}
        self._unavailable: dict[str, str] = {}
        for loader in loaders:
            self.register(loader)

    def register(self, loader: Loader, *, replace: bool = False) -> None:
        """Add ``loader`` for each of its types; a type that already has a loader needs ``replace=True``."""
        if not replace:
            taken = sorted(mime for mime in loader.mime_types if mime in self._by_mime)
            if taken:
                owners = ", ".join(f"{mime} ({self._by_mime[mime].name})" for mime in taken)
                raise ValueError(f"loader {loader.name!r}: types already registered: {owners}")
        for mime in loader.mime_types:
            self._by_mime[mime] = loader

    def unavailable(self, mime_types: Iterable[str], reason: str) -> None:
        """Record why these types have no loader in this configuration (e.g. audio without a speech model)."""
        for mime in mime_types:
            self._unavailable[mime] = reason

    def why_unavailable(self, mime_type: str) -> str | None:
        return None if mime_type in self._by_mime else self._unavailable.get(mime_type)

    @property
    def mime_types(self) -> frozenset[str]:
        return frozenset(self._by_mime)

    def for_source(self, source: Source) -> Loader:
        try:
            return self._by_mime[source.mime_type]
        except KeyError:
            why = self._unavailable.get(source.mime_type)
            detail = f": {why}" if why else ""
            raise UnsupportedSourceError(
                f"no loader for {source.mime_type} files{detail}", source=str(source.path)
            ) from None


def require_nonempty(path: Path) -> int:
    """The size of ``path``; raises for an empty or unreadable file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceLoadError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
    if size == 0:
        raise UnsupportedSourceError("empty file", source=str(path))
    return size


def read_source_bytes(path: Path) -> bytes:
    """The bytes of ``path``; raises for an empty or unreadable file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceLoadError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
    if not data:
        raise UnsupportedSourceError("empty file", source=str(path))
    return data
