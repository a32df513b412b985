"""The ingest worker: discover → load → embed → store, one source at a time, crash-safe per source.

For each source the pipeline hashes the file, skips it when the stored record has the same hash, and
otherwise writes the new version's points (ids derived from tenant, source, content hash and locator)
before it deletes the points of older versions and, last, writes the source record. A run killed at any
point leaves either the old version or the new one marked done, never a half-written one; a failure
while loading removes the partial new version and leaves the old one as it was.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunking import Chunker
from ingest.discover import SKIPPED, discover
from ingest.loaders.base import LoaderRegistry
from ingest.loaders.image import ImageLoader
from ingest.loaders.pdf import PdfLoader
from ingest.loaders.text import TextLoader
from rag.config import Settings
from rag.embedder import Embedder
from rag.errors import IngestError, StoreError
from rag.media import MediaStore
from rag.records import FileFailure, IngestReport, Item, Source
from rag.sparse import SPARSE_VECTOR, SparseEncoder, SparseVector
from rag.store import PointRecord, QdrantStore, SourceRecord, point_id

__all__ = ["IngestPipeline", "ProgressHook", "build_loaders", "file_sha256"]

log = logging.getLogger(__name__)

_WORD = re.compile(r"\S+")

ProgressHook = Callable[[IngestReport, str], None]


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def _whitespace_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def build_loaders(settings: Settings, text_embedder: Embedder | None) -> LoaderRegistry:
    """Loaders configured from settings; text is chunked in the text model's own tokens."""
    if text_embedder is not None:
        specials = getattr(text_embedder, "special_tokens", 2)
        max_tokens = max(8, min(settings.chunking.tokens, text_embedder.max_tokens - specials))
        chunker = Chunker(text_embedder.token_spans, max_tokens, min(settings.chunking.overlap, max_tokens // 4))
    else:
        chunker = Chunker(_whitespace_spans, settings.chunking.tokens, settings.chunking.overlap)
    registry = LoaderRegistry()
    registry.register(TextLoader(chunker))
    registry.register(
        ImageLoader(max_pixels=settings.images.max_pixels, max_source_pixels=settings.images.max_source_pixels)
    )
    registry.register(
        PdfLoader(
            chunker,
            render_dpi=settings.pdf.render_dpi,
            max_pages=settings.pdf.max_pages,
            max_pixels=settings.images.max_pixels,
        )
    )
    return registry


@dataclass
class _Pending:
    item: Item
    image_ref: str | None


class IngestPipeline:
    """Runs ingestion with already-loaded models; construct it through :class:`rag.RAG`."""

    def __init__(
        self,
        *,
        settings: Settings,
        embedders: Mapping[str, Embedder],
        store: QdrantStore,
        media: MediaStore,
        loaders: LoaderRegistry,
        profile: str = "",
        sparse: SparseEncoder | None = None,
    ) -> None:
        self.settings = settings
        self.embedders = embedders
        self.store = store
        self.media = media
        self.loaders = loaders
        self.profile = profile
        self.sparse = sparse
        self.flush_size = max(1, settings.models.batch_size * 4)

    # -- public ----------------------------------------------------------------------------------

    def run(
        self,
        paths: Iterable[str | Path],
        *,
        tenant: str,
        progress: bool | None = None,
        on_progress: ProgressHook | None = None,
        within: Sequence[Path] = (),
    ) -> IngestReport:
        """Ingest ``paths``; ``on_progress(report, path)`` is called after each file (the report is live)."""
        from tqdm.auto import tqdm

        started = time.perf_counter()
        report = IngestReport()
        sources: list[Source] = []
        for found in discover(paths, within=within):
            if isinstance(found, Source):
                sources.append(found)
                continue
            report.files_seen += 1
            if found.stage == SKIPPED:
                report.skipped.append(found)
            else:
                report.failed.append(found)
        report.files_seen += len(sources)
        bar = tqdm(sources, desc="ingest", unit="file", disable=None if progress is None else not progress, leave=False)
        for source in bar:
            bar.set_postfix_str(source.name[-40:], refresh=False)
            self._ingest_one(source, tenant, report)
            if on_progress is not None:
                on_progress(report, str(source.path))
        bar.close()
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    # -- one source ------------------------------------------------------------------------------

    def _ingest_one(self, source: Source, tenant: str, report: IngestReport) -> None:
        if source.mime_type not in self.loaders.mime_types:
            # A known type this build cannot load yet (video): skipped, not failed.
            reason = f"no loader for {source.mime_type} files in this version"
            report.skipped.append(FileFailure(path=str(source.path), reason=reason))
            return
        try:
            content_hash = file_sha256(source.path)
        except OSError as exc:
            report.failed.append(FileFailure(path=str(source.path), reason=f"cannot read: {exc.strerror or exc}"))
            return
        existing = self.store.get_source(tenant, source.source_id)
        if existing is not None and existing.content_hash == content_hash:
            report.unchanged += 1
            return
        try:
            written, dropped = self._write_version(source, tenant, content_hash)
        except IngestError as exc:
            self._discard(tenant, source, content_hash, existing)
            report.failed.append(FileFailure(path=str(source.path), reason=exc.message, stage=exc.stage))
            return
        except StoreError:
            self._discard(tenant, source, content_hash, existing)
            raise
        if written == 0:
            self._discard(tenant, source, content_hash, existing)
            why = ", ".join(sorted(dropped)) or "nothing to index"
            report.skipped.append(FileFailure(path=str(source.path), reason=why, stage="ingest"))
            return
        removed = self.store.delete_stale(tenant, source.source_id, keep_hash=content_hash)
        self.media.prune(tenant, source.source_id, keep_hash=content_hash)
        self.store.put_source(
            SourceRecord(
                tenant=tenant,
                source_id=source.source_id,
                path=str(source.path),
                name=source.name,
                mime_type=source.mime_type,
                content_hash=content_hash,
                points=written,
                ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
                title=None,
            )
        )
        report.ingested += 1
        report.points_written += written
        report.points_deleted += removed

    def _discard(self, tenant: str, source: Source, content_hash: str, existing: SourceRecord | None) -> None:
        """Remove a partial new version; the stored version (if any) stays untouched."""
        if existing is not None and existing.content_hash == content_hash:
            return
        self.store.delete_version(tenant, source.source_id, content_hash)
        self.media.remove_version(tenant, source.source_id, content_hash)

    def _write_version(self, source: Source, tenant: str, content_hash: str) -> tuple[int, set[str]]:
        loader = self.loaders.for_source(source)
        written = 0
        dropped: set[str] = set()
        page_refs: dict[int, str] = {}
        pending: list[_Pending] = []
        for item in loader.load(source):
            vector = self._vector_for(item)
            ref: str | None = None
            if item.image is not None:
                ref = self.media.save(tenant, source.source_id, content_hash, item.locator, item.image)
                if item.page is not None:
                    page_refs[item.page] = ref
            elif item.page is not None:
                ref = page_refs.get(item.page)
            if vector is None:
                dropped.add(f"{item.modality} vector disabled ({self.profile or 'no model'})")
                continue
            pending.append(_Pending(item, ref))
            if len(pending) >= self.flush_size:
                written += self._flush(pending, source, tenant, content_hash)
                pending = []
        if pending:
            written += self._flush(pending, source, tenant, content_hash)
        return written, dropped

    def _vector_for(self, item: Item) -> str | None:
        return item.modality if item.modality in self.embedders else None

    def _flush(self, pending: Sequence[_Pending], source: Source, tenant: str, content_hash: str) -> int:
        by_vector: dict[str, list[_Pending]] = {}
        for entry in pending:
            by_vector.setdefault(entry.item.modality, []).append(entry)
        records: list[PointRecord] = []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for vector, entries in by_vector.items():
            vectors = self._encode(vector, [e.item for e in entries])
            sparse = self._encode_sparse([e.item for e in entries])
            for entry, vec, terms in zip(entries, vectors, sparse, strict=True):
                records.append(
                    PointRecord(
                        id=point_id(tenant, source.source_id, content_hash, entry.item.locator),
                        vectors={vector: vec} if terms is None else {vector: vec, SPARSE_VECTOR: terms},
                        payload=self._payload(entry, source, tenant, content_hash, now),
                    )
                )
        self.store.upsert(records)
        return len(records)

    def _encode(self, vector: str, items: Sequence[Item]) -> np.ndarray:
        embedder = self.embedders[vector]
        inputs: list[Any] = [item.text if vector == "text" else item.image for item in items]
        return embedder.encode_documents(inputs)

    # Hybrid search: BM25 term weights for text chunks (PDF page text included, as its chunks), stored next
    # to the dense vector. Page points are left out: their text repeats the page's chunks.
    _SPARSE_KINDS = frozenset({"text"})

    def _encode_sparse(self, items: Sequence[Item]) -> list[SparseVector | None]:
        if self.sparse is None:
            return [None] * len(items)
        wanted = [i for i, item in enumerate(items) if item.kind in self._SPARSE_KINDS and item.text]
        out: list[SparseVector | None] = [None] * len(items)
        for i, terms in zip(wanted, self.sparse.encode_documents([items[i].text or "" for i in wanted]), strict=True):
            out[i] = terms
        return out

    @staticmethod
    def _payload(entry: _Pending, source: Source, tenant: str, content_hash: str, now: str) -> dict[str, Any]:
        item = entry.item
        payload: dict[str, Any] = {
            "tenant": tenant,
            "source_id": source.source_id,
            "path": str(source.path),
            "name": source.name,
            "mime_type": source.mime_type,
            "content_hash": content_hash,
            "kind": item.kind,
            "modality": item.modality,
            "locator": item.locator,
            "title": item.title,
            "text": item.text,
            "page": item.page,
            "char_start": item.char_span[0] if item.char_span else None,
            "char_end": item.char_span[1] if item.char_span else None,
            "image_ref": entry.image_ref,
            "ingested_at": now,
        }
        payload.update(item.extra)
        return payload
