"""The FastAPI app: lifespan (models load once), middleware (body limits, CORS, access log), routers, error
handlers, offline API docs."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag import __version__
from rag.api.access_log import AccessLog
from rag.api.deps import KeyRing, Services, StoreReady
from rag.api.docs import install_docs
from rag.api.errors import error_body, install_error_handlers
from rag.api.jobs import JobManager
from rag.api.links import LinkSigner
from rag.api.readiness import StoreConnection
from rag.api.routes import excerpts, health, ingest, media, openai, query, snippets, sources
from rag.config import Settings
from rag.engine import RAG

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_MB = 2**20


def create_app(settings: Settings | None = None, *, rag: RAG | None = None) -> FastAPI:
    """The app; ``rag`` (already built, e.g. with test models) replaces the one built from ``settings``."""
    settings = settings or (rag.settings if rag is not None else Settings())
    api = settings.api

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = rag if rag is not None else RAG.from_settings(settings)
        await run_in_threadpool(engine.load_models)
        # The server starts without its store: /readyz and the routes that need it say why until it connects.
        store = StoreConnection(engine.ensure_collection, max_wait_s=settings.qdrant.reconnect_max_s)
        if engine.local_store:
            await run_in_threadpool(store.connect)  # a local directory: ready when the server is
        store.start()
        shutil.rmtree(settings.upload_dir / ".staging", ignore_errors=True)  # requests cut short by a restart
        jobs = JobManager(
            engine.ingest,
            workers=api.ingest_workers,
            max_jobs=api.max_jobs,
            display=_upload_display(settings.upload_dir),
            db=settings.jobs_db,
        )
        signing_key = api.signing_key.get_secret_value().encode() if api.signing_key else None
        app.state.services = Services(
            settings=settings,
            rag=engine,
            jobs=jobs,
            links=LinkSigner(signing_key, ttl_s=api.link_ttl_s),
            keys=KeyRing(api.keys),
            store=store,
        )
        try:
            yield
        finally:
            await run_in_threadpool(store.close)
            await run_in_threadpool(jobs.shutdown)
            if rag is None:
                engine.close()

    app = FastAPI(
        title="rag",
        version=__version__,
        summary="Multimodal RAG: ingest documents, images, PDFs and videos; search; cited answers.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their assets from a CDN: ours are served from a package
        redoc_url=None,
    )
    install_docs(app)
    install_error_handlers(app)
    for router in (health.router, ingest.router, media.router, snippets.router, excerpts.router, openai.router):
        app.include_router(router)
    for router in (sources.router, query.router):
        app.include_router(router, dependencies=[StoreReady])
    if api.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    app.add_middleware(
        BodyLimit,
        default=int(api.max_body_mb * _MB),
        by_path={ingest.UPLOAD_PATH: int(api.max_request_mb * _MB)},
    )
    if api.access_log:
        app.add_middleware(AccessLog)  # outermost of ours: it times the body limit's refusals too
    return app


def _upload_display(upload_dir: Path) -> Callable[[str], str]:
    """Shows uploaded files by the name they were uploaded as, in paths and in texts (failure reasons quote
    paths: an FFmpeg error names its input file): the server's upload folder never appears in a job."""
    forms = sorted({str(upload_dir.resolve()), os.path.abspath(upload_dir)}, key=len, reverse=True)
    # The folder, then its tenant folder (without it: the upload's own name is what is left).
    pattern = re.compile("(?:" + "|".join(re.escape(f) for f in forms) + r")(?:/[^/\s]+)?(?:/|(?=[\s'\"]|$))")

    def display(text: str) -> str:
        return pattern.sub("", text)

    return display


class _TooLarge(HTTPException):
    """Raised while the body is read; an HTTPException so that FastAPI's body parsing lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit / _MB:g} MB")


class BodyLimit:
    """Refuses request bodies over a limit (per path) with 413 and a JSON error, before reading them whole."""

    def __init__(self, app: ASGIApp, *, default: int, by_path: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_path = by_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        error_body(413, f"the request body is larger than the limit of {limit / _MB:g} MB", "body_too_large")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
