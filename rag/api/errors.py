"""One place that turns errors into HTTP responses with a JSON body; clients never see a traceback.

The body has the OpenAI error shape, which chat clients already display and REST clients read easily::

    {"error": {"type": "invalid_request_error", "message": "...", "code": "query_too_long"}}
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.errors import (
    BusyError,
    ConfigError,
    GenerationError,
    IngestError,
    ModelUnavailableError,
    RagError,
    RetrievalError,
    SchemaMismatchError,
    StoreError,
    StoreUnavailableError,
    UnsupportedSourceError,
)

__all__ = ["STORE_UNAVAILABLE", "ApiError", "brief", "error_body", "install_error_handlers"]

log = logging.getLogger(__name__)

STORE_UNAVAILABLE = "store_unavailable"

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "upstream_timeout",
}

# Most specific first: the first class an error is an instance of decides the status.
_RAG_STATUS: tuple[tuple[type[RagError], int], ...] = (
    (SchemaMismatchError, 409),
    (StoreError, 503),
    (ModelUnavailableError, 503),
    (ConfigError, 500),
    (UnsupportedSourceError, 415),
    (IngestError, 422),
    (RetrievalError, 400),
    (GenerationError, 502),
    (BusyError, 429),
)


class ApiError(Exception):
    """An error the API answers on purpose: status, short machine code and a message for people."""

    def __init__(self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers


def brief(value: object, limit: int = 60) -> str:
    """A client's value as quoted in an error message: its ``repr`` (controls escaped), cut to ``limit``."""
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[: limit - 3]}..."


def error_body(status: int, message: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"type": _TYPES.get(status, "api_error"), "message": message, "code": code}
    error.update(extra)
    return {"error": error}


def _json(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None, **extra: Any):
    return JSONResponse(error_body(status, message, code, **extra), status_code=status, headers=headers)


def rag_status(exc: RagError) -> int:
    return next((status for cls, status in _RAG_STATUS if isinstance(exc, cls)), 400)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.message, exc.code, exc.headers)

    @app.exception_handler(RagError)
    async def _rag_error(request: Request, exc: RagError) -> JSONResponse:
        if isinstance(exc, StoreUnavailableError):  # the message names the server: the log has it, clients do not
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            return _json(503, f"the store is not available: Qdrant cannot be reached ({exc.reason})", STORE_UNAVAILABLE)
        status = rag_status(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return _json(status, str(exc), type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Field, message and error type only: the offending input is not echoed back.
        details = [
            {"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type")}
            for err in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p not in ("body", "query", "path", "header"))
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return _json(422, message, "validation_error", details=details)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return _json(exc.status_code, message, None, dict(exc.headers or {}) or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("unhandled error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
        return _json(500, f"internal error (incident {incident}); the server log has the details", "internal_error")
