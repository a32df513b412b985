"""``RAG``: the thin facade services and the CLI use. It composes the roles and owns nothing heavy itself.

rag = RAG.from_settings()          # cheap: stores settings
rag.warm_up()                      # loads the models and opens the store, once
report = rag.ingest(["docs/"])
hits = rag.search("how long is the warranty?", filters=SearchFilters(modalities=["text"]))
rag.close()

The roles (store, media, models, retriever, reranker, generator, orchestrator) are built here, in the
constructor (the cheap ones) and :meth:`RAG.load_models` (the rest), and stay private: callers use the methods
below. Nothing loads as a side effect of a query: one before :meth:`RAG.warm_up` (or :meth:`RAG.load_models`)
raises :class:`RuntimeError` saying so. Only the speech recogniser loads on first use (ingesting audio or
video), so that processes that only search never load it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings, validate_tenant
from rag.embedder import audio_format_of
from rag.errors import RagError, RetrievalError, StoreError
from rag.loading import LoadedModels, load_embedders, load_recognizer, load_reranker
from rag.media import MediaRef, MediaStore
from rag.orchestrator import QueryOrchestrator, Retrieved
from rag.records import Answer, AudioClip, Hit, IngestReport, PointPayload, SearchFilters, Turn
from rag.reranker import Reranker
from rag.retriever import Retriever
from rag.sparse import SPARSE_VECTOR, Bm25Encoder, SparseEncoder
from rag.store import (
    CollectionSchema,
    SourceRecord,
    SparseSchema,
    UnfinishedVersion,
    VectorSchema,
    make_store,
)

if TYPE_CHECKING:
    from PIL import Image

    from rag.generator import Generator
    from rag.speech import SpeechRecognizer

__all__ = ["RAG"]

log = logging.getLogger(__name__)


class _Unset:
    """Marks a component that ``warm_up`` builds from settings (None means: explicitly none)."""


_UNSET = _Unset()
_NOT_WARMED_UP = "the models are not loaded: call RAG.warm_up() (or RAG.load_models()) first"


class RAG:
    def __init__(
        self,
        settings: Settings,
        *,
        models: LoadedModels | None = None,
        reranker: Reranker | _Unset | None = _UNSET,
        generator: Generator | _Unset | None = _UNSET,
        speech: SpeechRecognizer | _Unset | None = _UNSET,
    ) -> None:
        self.settings = settings
        self._models = models
        self._reranker = reranker
        self._generator = generator
        self._speech = speech
        self._store = make_store(settings.qdrant, path=settings.qdrant_path)
        self._media = MediaStore(settings.media_dir, max_side=settings.images.store_max_side)
        # Hybrid search: BM25 weights for text points (cheap to build; the stemmer loads on first use).
        self._sparse_encoder: SparseEncoder | None = Bm25Encoder() if settings.retrieval.sparse else None
        self._retriever: Retriever | None = None
        self._orchestrator: QueryOrchestrator | None = None
        self._schema_checked = False
        self._recovered = False
        self.notes: list[str] = []
        # Why there is no reranker (set when loading it), for the answers' rerank info.
        self._rerank_note: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> RAG:
        """Build from a ``Settings`` (default: read from the environment and ``.env``)."""
        base = settings if settings is not None else Settings()
        return cls(base.model_copy(update=overrides) if overrides else base)

    # -- lifecycle -------------------------------------------------------------------------------

    def warm_up(self) -> RAG:
        """Load the models and open the store. Idempotent; call it once at start-up."""
        self.load_models()
        self._store.open()
        return self

    def load_models(self) -> RAG:
        """Load the models and compose the query roles over them (the server connects to the store on its own,
        and retries). Idempotent."""
        if self._models is None:
            _limit_blas_threads()
            self._models = load_embedders(self.settings)
        if isinstance(self._reranker, _Unset):
            self._reranker, self._rerank_note = load_reranker(
                self.settings, self._models.profile, load_image=self._media.open_image
            )
            if self._rerank_note:
                self.notes.append(self._rerank_note)
        if isinstance(self._generator, _Unset):
            self._generator = None
            if self.settings.generation.model:
                from rag.generator import LiteLLMGenerator

                self._generator = LiteLLMGenerator(self.settings.generation)
        if self._orchestrator is None:
            self._retriever = Retriever(
                embedders=self._models.embedders,
                store=self._store,
                settings=self.settings.retrieval,
                sparse=self.sparse,
            )
            self._orchestrator = QueryOrchestrator(
                retriever=self._retriever,
                reranker=self._reranker,
                generator=self._generator,
                media=self._media,
                settings=self.settings,
                rerank_note=self._rerank_note,
            )
        return self

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> RAG:
        return self.warm_up()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def models(self) -> LoadedModels:
        """The loaded embedding models (after :meth:`warm_up`)."""
        if self._models is None:
            raise RuntimeError(_NOT_WARMED_UP)
        return self._models

    def _recognizer(self) -> SpeechRecognizer | None:
        """The speech recogniser, loaded on first use: only ingesting audio and video needs it, so processes
        that only search never load it."""
        if isinstance(self._speech, _Unset):
            self._speech, note = load_recognizer(self.settings, self.models.profile)
            if note:
                self.notes.append(note)
        return self._speech

    @property
    def sparse(self) -> SparseEncoder | None:
        """The sparse encoder in use: it weights text points, so it needs the text vector."""
        return self._sparse_encoder if "text" in self.models.embedders else None

    @property
    def schema(self) -> CollectionSchema:
        sparse = self.sparse
        return CollectionSchema(
            tuple(VectorSchema(name, e.dimension, e.model_id) for name, e in self.models.embedders.items()),
            sparse=(SparseSchema(SPARSE_VECTOR, sparse.encoder_id),) if sparse is not None else (),
        )

    def _note(self, notes: Iterable[str]) -> None:
        self.notes.extend(n for n in notes if n not in self.notes)

    def ensure_collection(self, *, recreate: bool = False) -> None:
        """Create the collection for the loaded models (or check that the stored one matches them), then
        recover what killed runs left behind (see :meth:`recover`)."""
        self._note(self._store.ensure_collection(self.schema, recreate=recreate))
        self._schema_checked = True
        self.recover()

    def recover(self) -> list[UnfinishedVersion]:
        """Publish or remove the unfinished versions that killed runs left (their points are never read).

        The embedded store has one owner, this process: everything is recovered once, when it is first
        opened (ingest runs in this process start after that). On a server, other workers may be writing,
        so each call removes only versions older than ``RAG_QDRANT__RECOVER_AFTER_S``.
        """
        if self._store.capabilities.single_process:
            if self._recovered:
                return []
            versions = self._store.recover(thorough=True)
        else:
            versions = self._store.recover(older_than_s=self.settings.qdrant.recover_after_s)
        self._recovered = True
        for version in versions:
            if not version.published:
                self._media.remove_version(version.tenant, version.source_id, version.content_hash)
        return versions

    def unfinished(self, *, tenant: str | None = None) -> list[UnfinishedVersion]:
        """Versions no read sees: being written now, or left by a killed run until :meth:`recover` runs."""
        self._store.open()
        return self._store.unfinished(self._tenant(tenant), thorough=True)

    @property
    def local_store(self) -> bool:
        """Whether the store is a local directory this process owns (embedded), not a server others share."""
        return self._store.capabilities.single_process

    @property
    def store_location(self) -> str:
        """The collection and where it is, for messages."""
        return f"collection {self._store.collection!r} at {self._store.location}"

    def count(self, *, tenant: str | None = None) -> int:
        """Points stored for ``tenant``, or for every tenant when None (0 before the collection exists)."""
        self._store.open()
        return self._store.count(tenant) if self._store.exists() else 0

    def drop_collection(self) -> None:
        """Remove the whole collection, every tenant's points (``rag eval`` drops its own on a server)."""
        self._store.drop_collection()

    def info(self) -> dict[str, Any]:
        """What ``rag info`` shows: the models, the store, how searches run and what is unfinished."""
        models = self.models
        sparse = self.sparse
        return {
            "profile": models.profile,
            "vectors": {n: {"model": e.model_id, "dim": e.dimension} for n, e in models.embedders.items()},
            "disabled": dict(models.disabled),
            "sparse": sparse.encoder_id if sparse is not None else None,
            "store": self._store.location,
            "collection": self._store.collection,
            "points": self._store.count(),
            "search": self.index_state(),
            "unfinished_versions": len(self.unfinished()),
        }

    def index_state(self) -> str | None:
        """How searches run now (exact, or through an HNSW index), for ``rag info`` and ``/readyz``; None when
        the store cannot say (it went away since it was last asked)."""
        try:
            return self._store.index_state()
        except StoreError as exc:
            log.warning("cannot tell how searches run at %s: %s", self._store.location, exc)
            return None

    def readiness(self, *, store: str | None = None) -> dict[str, str]:
        """ "ok", or why not, for the store and the models (the API's readiness check). ``store``: why the store
        is not usable, when the caller already knows (it is then not asked)."""
        checks = {"models": "ok" if self._models is not None else "not loaded"}
        if store is not None:
            return {**checks, "store": store}
        try:
            checks["store"] = "ok" if self._store.ping() else "Qdrant does not answer"
        except RagError as exc:
            checks["store"] = str(exc)
        return checks

    def _tenant(self, tenant: str | None) -> str:
        return validate_tenant(tenant) if tenant is not None else self.settings.tenant

    # -- ingest ----------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        tenant: str | None = None,
        recreate: bool = False,
        progress: bool | None = None,
        on_progress: Callable[[IngestReport, str], None] | None = None,
        within: Sequence[Path] = (),
        fail_fast: bool = False,
    ) -> IngestReport:
        """Ingest files, directories and globs; ``on_progress(report, path)`` runs after each file.

        Unchanged files are skipped by content hash; with ``fail_fast`` the run stops at the first failure;
        ``within``: only files whose resolved paths lie under these folders are read (the others fail).
        """
        from ingest.pipeline import IngestPipeline, build_loaders, speech_key

        models = self.models
        self.ensure_collection(recreate=recreate)
        speech = self._recognizer()
        pipeline = IngestPipeline(
            settings=self.settings,
            embedders=models.embedders,
            store=self._store,
            media=self._media,
            loaders=build_loaders(
                self.settings,
                models.embedders.get("text"),
                embed_video="video" in models.embedders,
                speech=speech,
                sound=audio_format_of(models.embedders.get("audio")),
            ),
            profile=models.profile,
            sparse=self.sparse,
            speech=speech_key(self.settings, speech),
        )
        return pipeline.run(
            paths,
            tenant=self._tenant(tenant),
            progress=progress,
            on_progress=on_progress,
            fail_fast=fail_fast,
            within=within,
        )

    # -- query -----------------------------------------------------------------------------------

    def _query_roles(self) -> tuple[QueryOrchestrator, Retriever]:
        """The orchestrator and the retriever, once the stored collection is known to fit the loaded models
        (checked on the first query, unless :meth:`ensure_collection` has already checked it)."""
        if self._orchestrator is None or self._retriever is None:
            raise RuntimeError(_NOT_WARMED_UP)
        if not self._schema_checked:
            self._note(self._store.check_schema(self.schema, mode="read"))
            self._schema_checked = True
        return self._orchestrator, self._retriever

    def retrieve(
        self,
        question: str,
        *,
        tenant: str | None = None,
        filters: SearchFilters | None = None,
        limit: int | None = None,
        image: Image.Image | None = None,
    ) -> Retrieved:
        """Fused search, then reranking when a reranker is loaded."""
        orchestrator, _ = self._query_roles()
        return orchestrator.retrieve(question, tenant=self._tenant(tenant), filters=filters, limit=limit, image=image)

    def answer(
        self,
        question: str,
        *,
        tenant: str | None = None,
        filters: SearchFilters | None = None,
        image: Image.Image | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        """A cited answer; ``image`` (optional) is searched with the question and shown to the model;
        ``history``: earlier turns of a chat, oldest first, so that follow-up questions are understood."""
        orchestrator, _ = self._query_roles()
        return orchestrator.answer(question, tenant=self._tenant(tenant), filters=filters, image=image, history=history)

    def answer_stream(
        self,
        question: str,
        *,
        tenant: str | None = None,
        filters: SearchFilters | None = None,
        image: Image.Image | None = None,
        history: Sequence[Turn] = (),
    ) -> Iterator[str | Answer]:
        """Text pieces as the model writes them, then the complete :class:`Answer`."""
        orchestrator, _ = self._query_roles()
        return orchestrator.answer_stream(
            question, tenant=self._tenant(tenant), filters=filters, image=image, history=history
        )

    def search(
        self,
        query: str | Image.Image | AudioClip | Sequence[str | Image.Image | AudioClip],
        *,
        tenant: str | None = None,
        filters: SearchFilters | None = None,
        limit: int | None = None,
    ) -> list[Hit]:
        """Fused search; an :class:`AudioClip` (see :meth:`audio_query`) searches the audio vector."""
        _, retriever = self._query_roles()
        return retriever.search(query, tenant=self._tenant(tenant), filters=filters, limit=limit)

    def search_roles(self) -> tuple[Retriever, Reranker | None]:
        """The retriever and the reranker themselves, for ``rag eval``: it encodes each query once, then times and
        scores every search mode on its own (each named vector, fused, fused + reranked)."""
        _, retriever = self._query_roles()
        assert not isinstance(self._reranker, _Unset)  # set by load_models, as the retriever is
        return retriever, self._reranker

    def audio_query(self, recording: bytes | Path) -> AudioClip:
        """A recording (file path or its bytes) as a query for :meth:`search`: its first window, decoded at the
        audio model's rate. Raises :class:`RetrievalError` without an audio model or for a bad recording."""
        from ingest.sounds import query_clip

        fmt = audio_format_of(self.models.embedders.get("audio"))
        if fmt is None:
            raise RetrievalError(
                "no audio vector: searching by a recording needs an audio model (RAG_MODELS__AUDIO__NAME)"
            )
        return query_clip(recording, fmt)

    def chat(self, messages: list[dict[str, Any]]) -> str | None:
        """The answer model asked as a plain chat, without retrieval or grounding rules (for chat clients' helper
        tasks, such as a chat title); None when no answer model is configured."""
        if isinstance(self._generator, _Unset):
            raise RuntimeError(_NOT_WARMED_UP)
        return None if self._generator is None else self._generator.complete(messages)

    def point(self, point_id: str, *, tenant: str | None = None) -> PointPayload | None:
        """One finished point of ``tenant`` by its id; None when it is absent, unfinished, another tenant's, or
        the id is not a point id (a snippet link names its point)."""
        try:
            uuid.UUID(point_id)
        except ValueError:
            return None
        self._store.open()
        found = self._store.retrieve([point_id]) if self._store.exists() else []
        if not found:
            return None
        point = PointPayload.from_payload(found[0].payload)
        return None if point.tenant != self._tenant(tenant) or point.unfinished else point

    def open_image(self, ref: str) -> Image.Image | None:
        """The stored image behind a media reference, decoded (RGB); None when it is gone or unreadable."""
        return self._media.open_image(ref)

    def media_file(self, ref: str | MediaRef) -> Path:
        """The stored image file behind a media reference (it may be gone); :class:`rag.media.InvalidMediaRefError`
        when the reference is malformed or leads out of its tenant's folder."""
        return self._media.resolve(ref)

    # -- sources ---------------------------------------------------------------------------------

    def sources(self, *, tenant: str | None = None) -> list[SourceRecord]:
        self._store.open()
        return self._store.list_sources(self._tenant(tenant))

    def delete(self, source: str | Path, *, tenant: str | None = None) -> int:
        """Remove a source (by path or source id) and its stored images; returns the points removed."""
        path = Path(source).expanduser()
        source_id = str(path.resolve()) if path.exists() else str(source)
        return self.delete_source_id(source_id, tenant=tenant)

    def delete_source_id(self, source_id: str, *, tenant: str | None = None) -> int:
        """Remove the source with this exact id (its resolved path) and its stored images."""
        tenant = self._tenant(tenant)
        self._store.open()
        removed = self._store.delete_source(tenant, source_id)
        if removed == 0:
            raise RagError(f"no source {source_id!r} in tenant {tenant!r}")
        self._media.remove(tenant, source_id)
        return removed


def _limit_blas_threads() -> None:
    """numpy's BLAS threads (used by the embedded store) fight torch's on small machines."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")
