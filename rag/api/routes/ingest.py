"""Ingest jobs: upload files or name server-side paths; follow, list and cancel jobs."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from rag.api.deps import CallerDep, ServicesDep, StoreReady
from rag.api.errors import ApiError, brief
from rag.api.jobs import FINISHED, JobView
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
    settings = services.settings
    api = settings.api
    if not api.allowed_roots:
        raise ApiError(403, "server-side paths are disabled (set RAG_API__ALLOWED_ROOTS)", code="paths_disabled")
    if len(body.paths) > api.max_files:
        raise ApiError(413, f"{len(body.paths)} paths; the limit is {api.max_files}", code="too_many_files")
    roots = _both_forms(api.allowed_roots)
    own = _both_forms([settings.data_dir, settings.upload_dir, settings.qdrant_path])
    for given in body.paths:
        _check_server_path(given, roots, own)
    within = [root.resolve() for root in api.allowed_roots]
    job = services.jobs.submit(caller.tenant, [Path(p) for p in body.paths], within=within)
    return _accepted(request, job)


def _both_forms(folders: list[Path]) -> list[PurePosixPath]:
    """Each folder as configured (made absolute) and resolved: a path may name a root either way."""
    return [PurePosixPath(form) for folder in folders for form in {os.path.abspath(folder), str(folder.resolve())}]


def _check_server_path(given: str, roots: list[PurePosixPath], own: list[PurePosixPath]) -> None:
    """Refuse a path by its text alone: absolute, no ``..``, lexically under a root, outside the server's folders.

    Nothing on disk is looked at here, so the answer never tells whether a file exists. Discovery then
    resolves every file, folder and pattern match it meets and keeps only those inside the roots (see
    :mod:`ingest.discover`): a link inside a root cannot lead it out.
    """
    path = PurePosixPath(given)
    if not path.is_absolute():
        raise ApiError(400, f"{brief(given, 200)}: server paths must be absolute", code="relative_path")
    if ".." in path.parts:
        raise ApiError(400, f"{brief(given, 200)}: '..' is not allowed in server paths", code="parent_path")
    # Literal comparison of the leading parts: a glob character in a root's own name is still that name.
    inside = any(path.parts[: len(root.parts)] == root.parts for root in roots)
    if not inside or any(path.parts[: len(folder.parts)] == folder.parts for folder in own):
        raise ApiError(403, f"{brief(given, 200)}: outside the allowed roots", code="path_not_allowed")


@router.get("/jobs", summary="The caller's jobs, newest first, a page at a time (limit, offset)")
def list_jobs(
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many jobs, newest first.")] = 50,
    offset: Annotated[int, Query(ge=0, description="Jobs to skip (the next page starts at offset + limit).")] = 0,
) -> list[JobView]:
    return services.jobs.list(caller.tenant, limit=limit, offset=offset)


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


@router.post(
    "/jobs/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a finished job again as a new job (one interrupted by a restart, say); unchanged files are skipped",
    dependencies=[StoreReady],
)
def retry_job(job_id: str, request: Request, caller: CallerDep, services: ServicesDep) -> JobAccepted:
    old = services.jobs.request(caller.tenant, job_id)
    if old is None:
        raise ApiError(404, f"no job {brief(job_id)}", code="job_not_found")
    if old.status not in FINISHED:
        raise ApiError(
            409, f"job {job_id} is {old.status}: cancel it or wait for it to finish", code="job_not_finished"
        )
    if not old.staged:  # server paths: checked like a new request, against the allowed roots of now
        try:
            body = PathsIn(paths=[str(p) for p in old.paths])
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise ApiError(
                409, f"job {job_id} names paths not accepted now: {reason}", code="job_not_retryable"
            ) from exc
        return ingest_paths(body, request, caller, services)
    files = old.files
    if files is None:
        raise ApiError(
            409, f"the files of job {job_id} were not stored before it stopped: upload them again", code="upload_lost"
        )
    return _accepted(request, services.jobs.submit(caller.tenant, old.paths, prepare=lambda: list(files)))
