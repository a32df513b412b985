"""Ingest jobs: upload files or name server-side paths; follow, list and cancel jobs."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile, status
from starlette.concurrency import run_in_threadpool

from rag.api.deps import CallerDep, ServicesDep, StoreReady
from rag.api.errors import ApiError, brief
from rag.api.jobs import JobView
from rag.api.schemas import JobAccepted, PathsIn
from rag.api.uploads import Staged

router = APIRouter(prefix="/v1", tags=["ingest"])

UPLOAD_PATH = "/v1/ingest"


def _accepted(request: Request, job: JobView) -> JobAccepted:
    return JobAccepted(job=job, status_url=str(request.url_for("get_job", job_id=job.id)))


@router.post(
    UPLOAD_PATH.removeprefix("/v1"),
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload files to ingest; returns a job to follow",
    dependencies=[StoreReady],
)
async def ingest_upload(
    files: Annotated[list[UploadFile], File(description="The files (a path in the file name keeps folders).")],
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
) -> JobAccepted:
    api = services.settings.api
    if len(files) > api.max_files:
        raise ApiError(413, f"{len(files)} files in one request; the limit is {api.max_files}", code="too_many_files")
    staged = Staged(services.settings.upload_dir, caller.tenant)
    try:
        for upload in files:
            await run_in_threadpool(staged.add, upload.filename, upload.file, max_bytes=int(api.max_upload_mb * 2**20))
        job = services.jobs.submit(caller.tenant, [Path(n) for n in staged.names], prepare=staged.commit)
    except BaseException:
        staged.discard()
        raise
    return _accepted(request, job)


@router.post(
    "/ingest/paths",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ingest files or folders that are already on the server, under the allowed roots",
    dependencies=[StoreReady],
)
def ingest_paths(body: PathsIn, request: Request, caller: CallerDep, services: ServicesDep) -> JobAccepted:
    api = services.settings.api
    if not api.allowed_roots:
        raise ApiError(403, "server-side paths are disabled (set RAG_API__ALLOWED_ROOTS)", code="paths_disabled")
    if len(body.paths) > api.max_files:
        raise ApiError(413, f"{len(body.paths)} paths; the limit is {api.max_files}", code="too_many_files")
    roots = [root.resolve() for root in api.allowed_roots]
    for given in body.paths:
        _check_under_roots(given, roots)
    job = services.jobs.submit(caller.tenant, [Path(p) for p in body.paths], within=roots)
    return _accepted(request, job)


def _check_under_roots(given: str, roots: list[Path]) -> None:
    path = Path(given)
    if not path.is_absolute():
        raise ApiError(400, f"{given}: server paths must be absolute", code="relative_path")
    # A pattern is checked by its fixed part; every file it and any folder yields are checked again at ingest.
    fixed = Path(*path.parts[: _fixed_depth(path)])
    resolved = fixed.resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise ApiError(403, f"{given}: outside the allowed roots", code="path_not_allowed")


def _fixed_depth(path: Path) -> int:
    for depth, part in enumerate(path.parts):
        if glob.has_magic(part):
            return depth
    return len(path.parts)


@router.get("/jobs", summary="The caller's jobs, newest first")
def list_jobs(caller: CallerDep, services: ServicesDep) -> list[JobView]:
    return services.jobs.list(caller.tenant)


@router.get("/jobs/{job_id}", summary="A job's status, progress and report", name="get_job")
def get_job(job_id: str, caller: CallerDep, services: ServicesDep) -> JobView:
    job = services.jobs.get(caller.tenant, job_id)
    if job is None:
        raise ApiError(404, f"no job {brief(job_id)}", code="job_not_found")
    return job


@router.delete("/jobs/{job_id}", summary="Cancel a job (a running one stops after its current file)")
def cancel_job(job_id: str, caller: CallerDep, services: ServicesDep) -> JobView:
    job = services.jobs.cancel(caller.tenant, job_id)
    if job is None:
        raise ApiError(404, f"no job {brief(job_id)}", code="job_not_found")
    return job
