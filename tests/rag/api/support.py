"""Shared constants and helpers of the API tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

KEYS = {"key-acme-0123456789abcdef": "acme", "key-globex-0123456789abcdef": "globex"}
ACME = {"Authorization": "Bearer key-acme-0123456789abcdef"}
GLOBEX = {"Authorization": "Bearer key-globex-0123456789abcdef"}
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def wait_job(client: TestClient, job_id: str, headers: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def upload(client: TestClient, headers: dict[str, str], files: dict[str, bytes]) -> dict[str, Any]:
    """Upload ``{name: content}``, wait for the job, return it."""
    response = client.post(
        "/v1/ingest", headers=headers, files=[("files", (name, data)) for name, data in files.items()]
    )
    assert response.status_code == 202, response.text
    return wait_job(client, response.json()["job"]["id"], headers)
