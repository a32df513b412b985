"""The caller's sources: list and delete."""

from __future__ import annotations

from fastapi import APIRouter, Request

from rag.api.deps import CallerDep, ServicesDep
from rag.api.errors import ApiError, brief
from rag.api.presenter import Presenter
from rag.api.schemas import SourceOut

router = APIRouter(prefix="/v1/sources", tags=["sources"])


@router.get("", summary="List the sources of the caller's tenant")
def list_sources(request: Request, caller: CallerDep, services: ServicesDep) -> list[SourceOut]:
    presenter = Presenter(services, caller.tenant, str(request.base_url))
    return [presenter.source(record) for record in services.rag.sources(tenant=caller.tenant)]


@router.delete("/{source}", summary="Delete a source (by id or path), its points and images")
def delete_source(source: str, request: Request, caller: CallerDep, services: ServicesDep) -> dict[str, object]:
    presenter = Presenter(services, caller.tenant, str(request.base_url))
    record = presenter.find_source(source)
    if record is None:
        raise ApiError(404, f"no source {brief(source)}", code="source_not_found")
    removed = services.rag.delete_source_id(record.source_id, tenant=caller.tenant)
    uploaded = presenter.uploaded_file(record.path)
    if uploaded is not None:
        uploaded.unlink(missing_ok=True)
    return {"deleted": presenter.source_id(record.source_id), "points": removed}
