"""``RAG``: the thin facade services and the CLI use. It composes the roles and owns nothing heavy itself.

rag = RAG.from_settings()          # cheap: stores settings
rag.warm_up()                      # loads the models and opens the store, once
report = rag.ingest(["docs/"])
hits = rag.search("how long is the warranty?", filters=SearchFilters(modalities=["text"]))
rag.close()
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings, validate_tenant
from rag.errors import RagError, StoreError
from rag.media import MediaStore
from rag.models import LoadedModels, load_embedders, load_recognizer, load_reranker
from rag.orchestrator import QueryOrchestrator, Retrieved
from rag.records import Answer, Hit, IngestReport, SearchFilters, Turn
from rag.reranker import Reranker
from rag.retriever import Retriever
from rag.sparse import SPARSE_VECTOR, Bm25Encoder, SparseEncoder
from rag.store import CollectionSchema, SourceRecord, SparseSchema, UnfinishedVersion, VectorSchema, make_store

if TYPE_CHECKING:
    from PIL import Image

    from rag.generator import Generator
    from rag.speech import SpeechRecognizer

__all__ = ["RAG"]

log = logging.getLogger(__name__)


class _Unset:
    """Marks a component that ``warm_up`` builds from settings (None means: explicitly none)."""


_UNSET = _Unset()


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
        self._orchestrator: QueryOrchestrator | None = None
        self.store = make_store(settings.qdrant, path=settings.qdrant_path)
        self.media = MediaStore(settings.media_dir, max_side=settings.images.store_max_side)
        self._retriever: Retriever | None = None
        # Hybrid search: BM25 weights for text points (cheap to build; the stemmer loads on first use).
        self.sparse_encoder: SparseEncoder | None = Bm25Encoder() if settings.retrieval.sparse else None
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
        self.store.open()
        return self

    def load_models(self) -> RAG:
        """Load the models only (the server connects to the store on its own, and retries). Idempotent."""
        if self._models is None:
            _limit_blas_threads()
            self._models = load_embedders(self.settings)
        if isinstance(self._reranker, _Unset):
            self._reranker, self._rerank_note = load_reranker(
                self.settings, self._models.profile, load_image=self.media.open_image
            )
            if self._rerank_note:
                self.notes.append(self._rerank_note)
        if isinstance(self._generator, _Unset):
            self._generator = None
            if self.settings.generation.model:
                from rag.generator import LiteLLMGenerator

                self._generator = LiteLLMGenerator(self.settings.generation)
        return self

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> RAG:
        return self.warm_up()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def models(self) -> LoadedModels:
        if self._models is None:
            self.warm_up()
        assert self._models is not None
        return self._models

    @property
    def speech(self) -> SpeechRecognizer | None:
        """The speech recogniser, loaded on first use: only ingesting audio and video needs it, so processes
        that only search never load it."""
        if isinstance(self._speech, _Unset):
            self._speech, note = load_recognizer(self.settings, self.models.profile)
            if note:
                self.notes.append(note)
        assert not isinstance(self._speech, _Unset)
        return self._speech

    @property
    def sparse(self) -> SparseEncoder | None:
        """The sparse encoder in use: it weights text points, so it needs the text vector."""
        return self.sparse_encoder if "text" in self.models.embedders else None

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
        self._note(self.store.ensure_collection(self.schema, recreate=recreate))
        self._schema_checked = True
        self.recover()

    def recover(self) -> list[UnfinishedVersion]:
        """Publish or remove the unfinished versions that killed runs left (their points are never read).

        The embedded store has one owner, this process: everything is recovered once, when it is first
        opened (ingest runs in this process start after that). On a server, other workers may be writing,
        so each call removes only versions older than ``RAG_QDRANT__RECOVER_AFTER_S``.
        """
        if self.store.capabilities.single_process:
            if self._recovered:
                return []
            versions = self.store.recover(thorough=True)
        else:
            versions = self.store.recover(older_than_s=self.settings.qdrant.recover_after_s)
        self._recovered = True
        for version in versions:
            if not version.published:
                self.media.remove_version(version.tenant, version.source_id, version.content_hash)
        return versions

    def unfinished(self, *, tenant: str | None = None) -> list[UnfinishedVersion]:
        """Versions no read sees: being written now, or left by a killed run until :meth:`recover` runs."""
        self.store.open()
        return self.store.unfinished(self._tenant(tenant), thorough=True)

    def index_state(self) -> str | None:
        """How searches run now (exact, or through an HNSW index), for ``rag info`` and ``/readyz``; None when
        the store cannot say (it went away since it was last asked)."""
        try:
            return self.store.index_state()
        except StoreError as exc:
            log.warning("cannot tell how searches run at %s: %s", self.store.location, exc)
            return None

    def readiness(self, *, store: str | None = None) -> dict[str, str]:
        """ "ok", or why not, for the store and the models (the API's readiness check). ``store``: why the store
        is not usable, when the caller already knows (it is then not asked)."""
        checks = {"models": "ok" if self._models is not None else "not loaded"}
        if store is not None:
            return {**checks, "store": store}
        try:
            checks["store"] = "ok" if self.store.ping() else "Qdrant does not answer"
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
        pipeline = IngestPipeline(
            settings=self.settings,
            embedders=models.embedders,
            store=self.store,
            media=self.media,
            loaders=build_loaders(
                self.settings, models.embedders.get("text"), embed_video="video" in models.embedders, speech=self.speech
            ),
            profile=models.profile,
            sparse=self.sparse,
            speech=speech_key(self.settings, self.speech),
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

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(
                embedders=self.models.embedders, store=self.store, settings=self.settings.retrieval, sparse=self.sparse
            )
        if not self._schema_checked:
            self._note(self.store.check_schema(self.schema, mode="read"))
            self._schema_checked = True
        return self._retriever

    @property
    def orchestrator(self) -> QueryOrchestrator:
        if self._orchestrator is None:
            self.warm_up()
            assert not isinstance(self._reranker, _Unset) and not isinstance(self._generator, _Unset)
            self._orchestrator = QueryOrchestrator(
                retriever=self.retriever,
                reranker=self._reranker,
                generator=self._generator,
                media=self.media,
                settings=self.settings,
                rerank_note=self._rerank_note,
            )
        return self._orchestrator

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
        return self.orchestrator.retrieve(
            question, tenant=self._tenant(tenant), filters=filters, limit=limit, image=image
        )

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
        return self.orchestrator.answer(
            question, tenant=self._tenant(tenant), filters=filters, image=image, history=history
        )

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
        return self.orchestrator.answer_stream(
            question, tenant=self._tenant(tenant), filters=filters, image=image, history=history
        )

    async def aanswer(
        self,
        question: str,
        *,
        tenant: str | None = None,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        return await self.orchestrator.aanswer(question, tenant=self._tenant(tenant), filters=filters, history=history)

    def aanswer_stream(
        self,
        question: str,
        *,
        tenant: str | None = None,
        filters: SearchFilters | None = None,
        history: Sequence[Turn] = (),
    ) -> AsyncIterator[str | Answer]:
        return self.orchestrator.aanswer_stream(question, tenant=self._tenant(tenant), filters=filters, history=history)

    def search(
        self,
        query: str | Image.Image | Sequence[str | Image.Image],
        *,
        tenant: str | None = None,
        filters: SearchFilters | None = None,
        limit: int | None = None,
    ) -> list[Hit]:
        return self.retriever.search(query, tenant=self._tenant(tenant), filters=filters, limit=limit)

    def chat(self, messages: list[dict[str, Any]]) -> str | None:
        """The answer model asked as a plain chat, without retrieval or grounding rules (for chat clients' helper
        tasks, such as a chat title); None when no answer model is configured."""
        generator = self.orchestrator.generator
        return None if generator is None else generator.complete(messages)

    # -- sources ---------------------------------------------------------------------------------

    def sources(self, *, tenant: str | None = None) -> list[SourceRecord]:
        self.store.open()
        return self.store.list_sources(self._tenant(tenant))

    def delete(self, source: str | Path, *, tenant: str | None = None) -> int:
        """Remove a source (by path or source id) and its stored images; returns the points removed."""
        path = Path(source).expanduser()
        source_id = str(path.resolve()) if path.exists() else str(source)
        return self.delete_source_id(source_id, tenant=tenant)

    def delete_source_id(self, source_id: str, *, tenant: str | None = None) -> int:
        """Remove the source with this exact id (its resolved path) and its stored images."""
        tenant = self._tenant(tenant)
        self.store.open()
        removed = self.store.delete_source(tenant, source_id)
        if removed == 0:
            raise RagError(f"no source {source_id!r} in tenant {tenant!r}")
        self.media.remove(tenant, source_id)
        return removed


def _limit_blas_threads() -> None:
    """numpy's BLAS threads (used by the embedded store) fight torch's on small machines."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")
