"""The ingest worker: discover → load → embed → store, streaming, incremental and crash-safe per source.

Three stages run at once, joined by bounded queues, so memory stays bounded however large the input is::

    loader thread                      embed thread                    calling thread
    discover, hash, skip unchanged,    batches items across files,     upserts points, finalises each
    load + chunk, save images,   ──▶   embeds a full batch per     ──▶ source once all its points are
    build payloads                     vector                          stored, reports, ``on_progress``

Per source: the file is hashed and skipped when its stored record has the same hash (nothing is loaded or
embedded again). Otherwise the new version's points are written (ids derived from tenant, source, content
hash and locator, so writing them twice changes nothing), then the points of older versions and their
images are removed, and *last* the source record is written with the new hash. A run killed at any moment
leaves each source either at its old version or at the new one marked done, never half-written and marked
done; the next run finds the record's hash differs (or is missing) and writes the version again.

A file that fails to load, or that changes or vanishes while it is read, is reported (``report.failed``)
and its partial new version is removed; its old version stays as it was. With ``fail_fast`` the run stops at
the first failure; sources not yet finalised are discarded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ingest.chunking import Chunker
from ingest.discover import LIMIT, SKIPPED, WalkLimits, discover
from ingest.loaders.audio import AUDIO_TYPES, AudioLoader
from ingest.loaders.base import LoaderRegistry
from ingest.loaders.image import ImageLoader
from ingest.loaders.pdf import PdfLoader
from ingest.loaders.text import TextLoader
from ingest.loaders.video import VideoLoader
from ingest.subtitles import find_sidecars
from rag.config import Settings
from rag.embedder import AudioFormat, Embedder
from rag.errors import IngestError, SourceLoadError, StoreError
from rag.media import MediaStore
from rag.records import FileFailure, IngestReport, Item, PointPayload, Source
from rag.sparse import SPARSE_VECTOR, SparseEncoder, SparseVector
from rag.speech import SpeechRecognizer
from rag.store import PointRecord, SourceRecord, Store, point_id

__all__ = ["IngestPipeline", "ProgressHook", "build_loaders", "file_sha256", "source_hash"]

log = logging.getLogger(__name__)

_WORD = re.compile(r"\S+")
_POLL_S = 0.05

ProgressHook = Callable[[IngestReport, str], None]


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def source_hash(source: Source, *, speech: str | None = None) -> str:
    """The content hash of a source: its file, and for a video its subtitle sidecars (name and bytes), so
    that editing a subtitle file re-ingests the video.

    ``speech``: what the transcript of the source's speech depends on (recogniser, language, video mode),
    when it has one: audio files, and videos with speech recognition on. Turning speech recognition on (or
    changing its model) then re-ingests the videos it now transcribes; with it off, hashes are as before.
    """
    content_hash = file_sha256(source.path)
    is_video = source.mime_type.startswith("video/")
    sidecars = find_sidecars(source.path) if is_video else []
    if not sidecars and not (speech and (is_video or source.mime_type in AUDIO_TYPES)):
        return content_hash
    digest = hashlib.sha256(content_hash.encode())
    for sidecar in sidecars:
        digest.update(b"\x1f" + sidecar.name.encode() + b"\x1f" + file_sha256(sidecar).encode())
    if speech and (source.mime_type in AUDIO_TYPES or (is_video and (not sidecars or "transcribe=always" in speech))):
        digest.update(b"\x1fspeech\x1f" + speech.encode())
    return digest.hexdigest()


def speech_key(settings: Settings, speech: SpeechRecognizer | None) -> str | None:
    """What a transcript depends on besides the file (see :func:`source_hash`); None when speech is off."""
    if speech is None:
        return None
    return f"{speech.model_id}|language={settings.audio.language or 'auto'}|transcribe={settings.video.transcribe}"


def _whitespace_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def build_loaders(
    settings: Settings,
    text_embedder: Embedder | None,
    *,
    embed_video: bool = False,
    speech: SpeechRecognizer | None = None,
    sound: AudioFormat | None = None,
) -> LoaderRegistry:
    """Loaders configured from settings; text is chunked in the text model's own tokens.

    ``embed_video``: a model with a video modality is loaded, so clips get sampled frames (else keyframes only).
    ``speech``: the recogniser that transcribes audio files and soundtracks; without one, audio files are
    skipped (with the reason) and videos without subtitles give pictures only.
    ``sound``: what the audio model reads, when one is loaded: audio files and soundtracks also get ``sound``
    points (audio vector); audio files are then loaded even without a recogniser.
    """
    if text_embedder is not None:
        specials = getattr(text_embedder, "special_tokens", 2)
        max_tokens = max(8, min(settings.chunking.tokens, text_embedder.max_tokens - specials))
        chunker = Chunker(
            text_embedder.token_spans,
            max_tokens,
            min(settings.chunking.overlap, max_tokens // 4),
            exact_counts=bool(getattr(text_embedder, "whitespace_local_tokens", False)),
        )
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
    video = settings.video
    registry.register(
        VideoLoader(
            chunker,
            clip_s=video.clip_s,
            overlap_s=video.overlap_s,
            frames_per_clip=video.frames_per_clip,
            max_frame_pixels=video.max_frame_pixels,
            keyframe_max_pixels=settings.images.max_pixels,
            embed_video=embed_video,
            split=video.split,
            scene_threshold=video.scene_threshold,
            max_duration_s=video.max_duration_s,
            recognizer=speech,
            transcribe=video.transcribe,
            language=settings.audio.language,
            sound=sound,
        )
    )
    audio = settings.audio
    if speech is not None or sound is not None:
        registry.register(
            AudioLoader(
                chunker,
                speech,
                sound=sound,
                language=audio.language,
                passage_s=audio.passage_s,
                max_duration_s=audio.max_duration_s,
            )
        )
    else:
        registry.unavailable(
            AUDIO_TYPES,
            "no speech recognition or audio model (set RAG_MODELS__SPEECH__NAME or RAG_MODELS__AUDIO__NAME)",
        )
    return registry


# -- what flows between the stages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fingerprint:
    """What changes when a file is rewritten, replaced or truncated."""

    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: Path) -> _Fingerprint:
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


@dataclass(eq=False)
class _Version:
    """One source whose new content version is being written."""

    source: Source
    content_hash: str
    existing: SourceRecord | None
    ingested_at: str
    dropped: set[str] = field(default_factory=set)  # why items got no point (loader thread)
    page_refs: dict[int, str] = field(default_factory=dict)  # page -> stored render (loader thread)
    image_refs: dict[str, str] = field(default_factory=dict)  # locator -> stored image (loader thread)
    failure: FileFailure | None = None  # set by the loader thread before it sends the version's end
    written: int = 0  # points stored (calling thread)
    ids: list[str] = field(default_factory=list)  # their ids, published once the record is written


@dataclass(frozen=True, slots=True)
class _Settled:
    """A file that needs no writing: skipped, failed before loading, or unchanged."""

    path: str
    outcome: Literal["skipped", "failed", "unchanged"]
    failure: FileFailure | None = None


@dataclass(frozen=True, slots=True)
class _Pending:
    """One item to embed, with the point it becomes."""

    version: _Version
    vector: str
    value: Any  # text, image, video clip or audio clip
    id: str
    payload: PointPayload
    weight: int = 1  # share of the in-flight image budget: 1 per image or sound window, 1 per frame of a video clip

    @property
    def images(self) -> int:
        return 0 if self.vector == "text" else self.weight


@dataclass(frozen=True, slots=True)
class _End:
    """All items of the version were sent (or it failed: ``version.failure``)."""

    version: _Version


@dataclass(frozen=True, slots=True)
class _Points:
    records: list[PointRecord]
    versions: list[_Version]  # the version of each record


@dataclass(frozen=True, slots=True)
class _Crash:
    """An unexpected error in a stage thread, re-raised in the calling thread."""

    error: BaseException


_DONE = object()  # the sending stage has finished
_STOPPED = object()  # the run was stopped: stages leave at once

_Event = _Settled | _Pending | _End | _Points | _Crash | object


class _Channel:
    """A bounded queue whose blocking calls give up when the run is stopped."""

    def __init__(self, maxsize: int, stop: threading.Event) -> None:
        self._queue: queue.Queue[_Event] = queue.Queue(maxsize=maxsize)
        self._stop = stop

    def put(self, event: _Event) -> bool:
        """False when the run was stopped before the event could be queued."""
        while not self._stop.is_set():
            try:
                self._queue.put(event, timeout=_POLL_S)
            except queue.Full:
                continue
            return True
        return False

    def get(self, *, block: bool = True) -> _Event | None:
        """The next event; None when ``block`` is false and none is waiting."""
        while True:
            try:
                return self._queue.get(timeout=_POLL_S) if block else self._queue.get_nowait()
            except queue.Empty:
                if self._stop.is_set():
                    return _STOPPED
                if not block:
                    return None


class _Run:
    """What the stages of one run share: the stop flag, the queues between them, the versions in flight and
    a budget of images in flight (decoded images are large: at most two image batches wait for the model)."""

    def __init__(self, tenant: str, *, items: int, images: int) -> None:
        self.tenant = tenant
        self.stop = threading.Event()
        self.loaded = _Channel(items, self.stop)  # loader -> embedder
        self.embedded = _Channel(4, self.stop)  # embedder -> writer (each event is one embedded batch)
        self._images = threading.BoundedSemaphore(images)
        self.present: set[str] | None = None  # sources with points at the start (embedded store only)
        self._lock = threading.Lock()
        self._in_flight: dict[int, _Version] = {}

    def take_image(self, count: int = 1) -> bool:
        """Wait for room for ``count`` more decoded images (frames); False when the run was stopped."""
        taken = 0
        while taken < count:
            if self.stop.is_set():
                self.release_images(taken)
                return False
            if self._images.acquire(timeout=_POLL_S):
                taken += 1
        return True

    def release_images(self, count: int) -> None:
        for _ in range(count):
            self._images.release()

    def begin(self, version: _Version) -> None:
        with self._lock:
            self._in_flight[id(version)] = version

    def settled(self, version: _Version) -> None:
        with self._lock:
            self._in_flight.pop(id(version), None)

    def unsettled(self) -> list[_Version]:
        with self._lock:
            return list(self._in_flight.values())


class IngestPipeline:
    """Runs ingestion with already-loaded models; construct it through :class:`rag.RAG`.

    ``flush_size`` text items (``image_flush_size`` images) are embedded together, across files;
    ``models.batch_size`` is the batch size inside the model.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        embedders: Mapping[str, Embedder],
        store: Store,
        media: MediaStore,
        loaders: LoaderRegistry,
        profile: str = "",
        sparse: SparseEncoder | None = None,
        speech: str | None = None,
    ) -> None:
        self.settings = settings
        self.speech = speech  # see source_hash
        self.embedders = embedders
        self.store = store
        self.media = media
        self.loaders = loaders
        self.profile = profile
        self.sparse = sparse
        self.flush_size = max(1, settings.models.batch_size * 8)
        self.image_flush_size = max(1, settings.models.batch_size * 2)

    # -- public ----------------------------------------------------------------------------------

    def run(
        self,
        paths: Iterable[str | Path],
        *,
        tenant: str,
        progress: bool | None = None,
        on_progress: ProgressHook | None = None,
        within: Sequence[Path] = (),
        fail_fast: bool = False,
    ) -> IngestReport:
        """Ingest ``paths``; ``on_progress(report, path)`` is called after each file (the report is live).

        With ``fail_fast`` the run stops at the first failed file (``report.stopped`` says why). ``within``
        makes it a server-side ingest (the HTTP API's paths): discovery is confined to these folders, never
        enters the server's own data folders, and is bounded by ``RAG_API__MAX_WALK_FILES`` /
        ``RAG_API__MAX_WALK_S``; the report lists at most ``RAG_API__MAX_REPORT_ENTRIES`` failed and skipped
        files each, and counts the rest by reason.
        """
        from tqdm.auto import tqdm

        started = time.perf_counter()
        report = IngestReport()
        if within:
            report.bounded(self.settings.api.max_report_entries)
        run = _Run(tenant, items=2 * max(self.flush_size, self.image_flush_size), images=2 * self.image_flush_size)
        if self.store.capabilities.single_process:
            # One process owns the embedded store: a source with no point now can only get points from this
            # run, so it has no stale version to delete. Each filtered delete scans the whole collection
            # in local mode (no payload indexes), so skipping the needless ones keeps ingest close to model speed.
            run.present = self.store.source_ids(tenant)
        threads = [
            threading.Thread(target=self._load_stage, args=(paths, run, within), name="ingest-load", daemon=True),
            threading.Thread(target=self._embed_stage, args=(run,), name="ingest-embed", daemon=True),
        ]
        bar = tqdm(desc="ingest", unit="file", disable=None if progress is None else not progress, leave=False)
        completed = False
        try:
            for thread in threads:
                thread.start()
            completed = self._write_stage(run, report, bar, on_progress, fail_fast)
        finally:
            run.stop.set()
            for thread in threads:
                thread.join()
            bar.close()
            if not completed:
                # Stopped early (fail-fast, an error, an interrupt): nothing half-written stays behind.
                self._discard_all(tenant, run.unsettled())
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    # -- stage 1: discover, hash, load (own thread) ----------------------------------------------

    def _load_stage(self, paths: Iterable[str | Path], run: _Run, within: Sequence[Path]) -> None:
        try:
            for found in self._discover(paths, within):
                if isinstance(found, FileFailure):
                    outcome: Literal["skipped", "failed"] = "skipped" if found.stage == SKIPPED else "failed"
                    sent = run.loaded.put(_Settled(found.path, outcome, found))
                else:
                    sent = self._load_source(found, run)
                if not sent:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed over to the calling thread, which re-raises it
            run.loaded.put(_Crash(exc))
        finally:
            run.loaded.put(_DONE)

    def _discover(self, paths: Iterable[str | Path], within: Sequence[Path]) -> Iterable[Source | FileFailure]:
        if not within:
            return discover(paths)
        settings, api = self.settings, self.settings.api
        return discover(
            paths,
            within=within,
            excluded=(settings.data_dir, settings.upload_dir, settings.qdrant_path),
            limits=WalkLimits(max_entries=api.max_walk_files, max_seconds=api.max_walk_s),
        )

    def _load_source(self, source: Source, run: _Run) -> bool:
        """Send the events of one source; False when the run was stopped."""
        path, out = str(source.path), run.loaded
        if source.mime_type not in self.loaders.mime_types:
            # A known type this configuration cannot load (audio without a speech model): skipped, not failed.
            why = self.loaders.why_unavailable(source.mime_type) or "none is configured"
            reason = f"no loader for {source.mime_type} files: {why}"
            return out.put(_Settled(path, "skipped", FileFailure(path=path, reason=reason)))
        try:
            before = _Fingerprint.of(source.path)
            content_hash = source_hash(source, speech=self.speech)
        except OSError as exc:
            failure = FileFailure(path=path, reason=f"cannot read: {exc.strerror or exc}")
            return out.put(_Settled(path, "failed", failure))
        existing = self.store.get_source(run.tenant, source.source_id)
        if existing is not None and existing.content_hash == content_hash:
            return out.put(_Settled(path, "unchanged"))
        version = _Version(source, content_hash, existing, datetime.now(UTC).isoformat(timespec="seconds"))
        run.begin(version)
        self.media.clear_partial(run.tenant, source.source_id, content_hash)
        try:
            for item in self.loaders.for_source(source).load(source):
                pending = self._prepare(version, item, run.tenant)
                if pending is None:
                    continue
                if pending.images and not run.take_image(pending.images):
                    return False
                if not out.put(pending):
                    return False
            if changed := _change(source.path, before):
                raise SourceLoadError(changed, source=path)
        except IngestError as exc:
            # A loader error on a file that was being rewritten is about the rewrite, not the file.
            reason = _change(source.path, before) or exc.message
            version.failure = FileFailure(path=path, reason=reason, stage=exc.stage)
        return out.put(_End(version))

    def _prepare(self, version: _Version, item: Item, tenant: str) -> _Pending | None:
        """Save the item's image and build its point; None when its vector is disabled."""
        source = version.source
        ref: str | None = None
        if item.image is not None:
            ref = self.media.save(tenant, source.source_id, version.content_hash, item.locator, item.image)
            version.image_refs[item.locator] = ref
            if item.page is not None:
                version.page_refs[item.page] = ref
        elif item.image_of is not None:
            ref = version.image_refs.get(item.image_of)  # a video clip or its subtitles → the keyframe
        elif item.page is not None:
            ref = version.page_refs.get(item.page)  # a PDF page's text points at the page's render
        vector = item.modality
        if vector not in self.embedders:
            version.dropped.add(f"{vector} vector disabled ({self.profile or 'no model'})")
            return None
        value: Any = {"text": item.text, "video": item.video, "audio": item.audio}.get(vector, item.image)
        # A clip's frames count against the in-flight budget like images (capped so that one always fits).
        frames = int(item.video.frames.shape[0]) if item.video is not None else 1
        return _Pending(
            version=version,
            vector=vector,
            value=value,
            id=point_id(tenant, source.source_id, version.content_hash, item.locator),
            payload=_payload(item, version, tenant, ref),
            weight=max(1, min(frames, self.image_flush_size)),
        )

    # -- stage 2: embed in full batches across files (own thread) --------------------------------

    def _embed_stage(self, run: _Run) -> None:
        buffer: list[_Pending] = []
        held: list[_Event] = []  # events that must follow the buffered items
        inbox, out = run.loaded, run.embedded
        try:
            while True:
                event = inbox.get()
                if event is _STOPPED:
                    return
                if event is _DONE:
                    break
                if isinstance(event, _Pending):
                    buffer.append(event)
                    texts = sum(p.vector == "text" for p in buffer)
                    images = sum(p.images for p in buffer)
                    if texts >= self.flush_size or images >= self.image_flush_size:
                        if not self._flush(buffer, held, run):
                            return
                        buffer, held = [], []
                    continue
                if isinstance(event, _End) and event.version.failure is not None:
                    # Why embed what will be discarded.
                    dropped = [p for p in buffer if p.version is event.version]
                    buffer = [p for p in buffer if p.version is not event.version]
                    run.release_images(sum(p.images for p in dropped))
                if buffer:
                    held.append(event)
                elif not out.put(event):
                    return
            self._flush(buffer, held, run)
        except BaseException as exc:  # noqa: BLE001 - handed over to the calling thread, which re-raises it
            out.put(_Crash(exc))
        finally:
            out.put(_DONE)

    def _flush(self, buffer: list[_Pending], held: list[_Event], run: _Run) -> bool:
        """Embed ``buffer`` (one model call per vector), then pass the points and the held events on."""
        out = run.embedded
        if buffer:
            by_vector: dict[str, list[_Pending]] = {}
            for pending in buffer:
                by_vector.setdefault(pending.vector, []).append(pending)
            records: list[PointRecord] = []
            versions: list[_Version] = []
            for vector, entries in by_vector.items():
                vectors = self._encode(vector, [p.value for p in entries])
                run.release_images(sum(p.images for p in entries))
                sparse = self._encode_sparse(entries)
                for pending, vec, terms in zip(entries, vectors, sparse, strict=True):
                    named = {vector: vec} if terms is None else {vector: vec, SPARSE_VECTOR: terms}
                    records.append(PointRecord(id=pending.id, vectors=named, payload=pending.payload.to_payload()))
                    versions.append(pending.version)
            if not out.put(_Points(records, versions)):
                return False
        return all(out.put(event) for event in held)

    def _encode(self, vector: str, inputs: list[Any]) -> np.ndarray:
        return self.embedders[vector].encode_documents(inputs)

    # Hybrid search: BM25 term weights for text chunks (PDF page text and video subtitles included), stored
    # next to the dense vector. Page points are left out: their text repeats the page's chunks.
    _SPARSE_KINDS = frozenset({"text"})

    def _encode_sparse(self, entries: list[_Pending]) -> list[SparseVector | None]:
        out: list[SparseVector | None] = [None] * len(entries)
        if self.sparse is None:
            return out
        wanted = [i for i, p in enumerate(entries) if p.payload.kind in self._SPARSE_KINDS and p.payload.text]
        texts = [entries[i].payload.text or "" for i in wanted]
        for i, terms in zip(wanted, self.sparse.encode_documents(texts), strict=True):
            out[i] = terms
        return out

    # -- stage 3: store and finalise (calling thread) --------------------------------------------

    def _write_stage(
        self,
        run: _Run,
        report: IngestReport,
        bar: Any,
        on_progress: ProgressHook | None,
        fail_fast: bool,
    ) -> bool:
        """Store the embedded points and settle each file; True when every file was processed.

        Complete versions are finalised together (one stale-points delete for all of them) as soon as no
        more events are waiting, and always before any later event is handled.
        """

        def file_done(path: str) -> bool:
            """Count a settled file; False when fail-fast must stop the run now."""
            report.files_seen += 1
            bar.update(1)
            bar.set_postfix_str(Path(path).name[-40:], refresh=False)
            if on_progress is not None:
                on_progress(report, path)
            if fail_fast and report.failed:
                report.stopped = f"stopped at the first failure (fail-fast): {report.failed[0].path}"
                return False
            return True

        def finalise_ready() -> bool:
            self._finalise(ready, run.tenant, report, run.present)
            for version in ready:
                run.settled(version)
            done = [str(v.source.path) for v in ready]
            ready.clear()
            return all(file_done(path) for path in done)

        ready: list[_Version] = []
        while True:
            event = run.embedded.get(block=not ready)
            if event is None:  # nothing waiting: finalise what is complete before blocking
                if not finalise_ready():
                    return False
                continue
            if isinstance(event, _End) and event.version.failure is None and event.version.written:
                ready.append(event.version)
                continue
            if ready and not finalise_ready():
                return False
            if event is _DONE:
                return True
            if event is _STOPPED:
                return False
            if isinstance(event, _Crash):
                raise event.error
            if isinstance(event, _Points):
                self.store.upsert(event.records)
                for record, version in zip(event.records, event.versions, strict=True):
                    version.written += 1
                    version.ids.append(record.id)
                continue
            if isinstance(event, _Settled):
                path = event.path
                if event.outcome == "unchanged":
                    report.unchanged += 1
                elif event.outcome == "skipped" and event.failure is not None:
                    report.add_skipped(event.failure)
                elif event.failure is not None:
                    report.add_failed(event.failure)
                    if event.failure.stage == LIMIT:
                        report.stopped = event.failure.reason
            elif isinstance(event, _End):
                path = str(event.version.source.path)
                self._discard(run.tenant, event.version)
                run.settled(event.version)
                if event.version.failure is not None:
                    report.add_failed(event.version.failure)
                else:
                    why = ", ".join(sorted(event.version.dropped)) or (
                        "no speech recognised (nothing to index)"
                        if event.version.source.mime_type in AUDIO_TYPES
                        else "nothing to index"
                    )
                    report.add_skipped(FileFailure(path=path, reason=why, stage="ingest"))
            else:  # pragma: no cover - every event type is handled above
                raise TypeError(f"unexpected ingest event {event!r}")
            if not file_done(path):
                return False

    def _finalise(
        self, versions: list[_Version], tenant: str, report: IngestReport, present: set[str] | None = None
    ) -> None:
        """Every point of these versions is stored: drop their older versions, then mark the sources done.

        ``present``: the sources that had points when the run started (None: unknown, check them all).
        """
        if not versions:
            return
        if "video" not in self.embedders and any(v.source.mime_type.startswith("video/") for v in versions):
            note = (
                f"videos: keyframes and subtitles only, no clip vectors: the {self.profile or 'loaded'} profile "
                "has no model with a video modality (RAG_MODELS__VIDEO__NAME)"
            )
            if note not in report.notes:
                report.notes.append(note)
        # Reads see finished versions only (see rag.store): hide the older versions, write the records, make
        # the new points visible, then delete what was hidden. A crash between two steps is recovered at the
        # next open or ingest (Store.recover), and no read ever sees two versions of a source.
        keep = {
            v.source.source_id: v.content_hash for v in versions if present is None or v.source.source_id in present
        }
        self.store.hide_stale_many(tenant, keep)
        self.store.put_sources(
            [
                SourceRecord(
                    tenant=tenant,
                    source_id=v.source.source_id,
                    path=str(v.source.path),
                    name=v.source.name,
                    mime_type=v.source.mime_type,
                    content_hash=v.content_hash,
                    points=v.written,
                    ingested_at=v.ingested_at,
                    title=None,
                )
                for v in versions
            ]
        )
        self.store.publish([point for v in versions for point in v.ids])
        if keep:
            report.points_deleted += self.store.delete_stale_many(tenant, keep)
        for version in versions:
            self.media.prune(tenant, version.source.source_id, keep_hash=version.content_hash)
        for version in versions:
            report.ingested += 1
            report.points_written += version.written

    def _discard(self, tenant: str, version: _Version) -> None:
        """Remove a partial new version; the stored version (if any) stays untouched."""
        existing, source = version.existing, version.source
        if existing is not None and existing.content_hash == version.content_hash:
            return
        self.store.delete_version(tenant, source.source_id, version.content_hash)
        self.media.remove_version(tenant, source.source_id, version.content_hash)

    def _discard_all(self, tenant: str, versions: list[_Version]) -> None:
        """Best effort after an early stop: the store may be what failed (the next run cleans up then)."""
        for version in versions:
            try:
                self._discard(tenant, version)
            except (StoreError, OSError) as exc:
                log.warning("cannot remove the partial version of %s: %s", version.source.path, exc)


def _change(path: Path, before: _Fingerprint) -> str | None:
    """Why ``path`` is no longer the file that was hashed, or None if it is."""
    try:
        now = _Fingerprint.of(path)
    except FileNotFoundError:
        return "file vanished while it was being ingested (the stored version, if any, is kept)"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if now != before:
        return "file changed while it was being ingested (the stored version, if any, is kept; run again)"
    return None


def _payload(item: Item, version: _Version, tenant: str, image_ref: str | None) -> PointPayload:
    source = version.source
    return PointPayload(
        tenant=tenant,
        source_id=source.source_id,
        path=str(source.path),
        name=source.name,
        mime_type=source.mime_type,
        content_hash=version.content_hash,
        kind=item.kind,
        modality=item.modality,
        locator=item.locator,
        title=item.title,
        text=item.text,
        page=item.page,
        char_start=item.char_span[0] if item.char_span else None,
        char_end=item.char_span[1] if item.char_span else None,
        start_s=item.start_s,
        end_s=item.end_s,
        image_ref=image_ref,
        ingested_at=version.ingested_at,
        extra=item.extra,
        unfinished=True,  # until the version is finalised: reads never see it before (rag.store)
    )
