"""Liveness and readiness (no auth: orchestrators and load balancers call these)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from rag.api.deps import ServicesDep
from rag.api.schemas import Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The store answers and the models are loaded", response_model=Ready)
def readyz(services: ServicesDep) -> JSONResponse:
    # While the store is down the background connection knows why; Qdrant is only asked when it is up.
    checks = services.rag.readiness(store=services.store.problem)
    if checks["store"] != "ok" and services.store.problem is None:
        services.store.lost("no answer to a ping")
    ready = all(value == "ok" for value in checks.values())
    search = services.rag.index_state() if checks["store"] == "ok" else None
    body = Ready(status="ready" if ready else "not ready", checks=checks, search=search)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
