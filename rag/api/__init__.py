"""The HTTP service: a thin FastAPI layer over :class:`rag.RAG`.

``create_app()`` builds the app; ``rag serve`` runs it with uvicorn. Models load once, in the lifespan.
Routes (all in the OpenAPI schema at ``/docs``):

* ``/v1/ingest`` (upload), ``/v1/ingest/paths`` (server folders under allowed roots), ``/v1/jobs``
* ``/v1/sources``, ``/v1/search``, ``/v1/answer`` (JSON or SSE), ``/v1/media/{ref}`` (stored images)
* ``/v1/chat/completions`` and ``/v1/models``: OpenAI-compatible, for chat frontends and SDKs
* ``/healthz`` (alive) and ``/readyz`` (store and models ready)
"""

from rag.api.app import create_app

__all__ = ["create_app"]
