"""The REST routes through FastAPI's TestClient: ingest jobs, sources, search, answers, images, health."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from PIL import Image

from rag.testing.fakes import FakeGenerator
from tests.rag.api.support import ACME, EXAMPLES, upload, wait_job

WARRANTY = b"# Warranty\n\nThe Helios battery carries a ten year warranty on parts and labour.\n"
PANELS = b"# Panels\n\nEach solar panel is cleaned twice a year with soft brushes and rain water.\n"


def _data_url(path: Any) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def test_openapi_lists_every_route(make_client: Any) -> None:
    paths = make_client("minilm").get("/openapi.json").json()["paths"]
    expected = {
        "/v1/ingest": {"post"},
        "/v1/ingest/paths": {"post"},
        "/v1/jobs": {"get"},
        "/v1/jobs/{job_id}": {"get", "delete"},
        "/v1/jobs/{job_id}/retry": {"post"},
        "/v1/sources": {"get"},
        "/v1/sources/{source}": {"delete"},
        "/v1/search": {"post"},
        "/v1/answer": {"post"},
        "/v1/media/{ref}": {"get"},
        "/v1/models": {"get"},
        "/v1/chat/completions": {"post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path


def test_upload_runs_a_job_with_progress_and_the_files_become_searchable(make_client: Any) -> None:
    client = make_client("clip")
    pdf = (EXAMPLES / "reports" / "annual-report-2025.pdf").read_bytes()
    png = (EXAMPLES / "images" / "wiring-diagram.png").read_bytes()
    job = upload(client, ACME, {"docs/warranty.md": WARRANTY, "reports/annual.pdf": pdf, "wiring.png": png})
    assert job["status"] == "succeeded", job
    assert job["files_submitted"] == 3 and job["files_done"] == 3
    assert job["report"]["ingested"] == 3 and job["report"]["failed"] == []
    listed = client.get("/v1/sources", headers=ACME).json()
    assert sorted(s["path"] for s in listed) == ["docs/warranty.md", "reports/annual.pdf", "wiring.png"]

    hits = client.post("/v1/search", headers=ACME, json={"query": "how long is the battery warranty?"}).json()["hits"]
    assert hits[0]["path"] == "docs/warranty.md" and "ten year warranty" in hits[0]["text"]
    # The raw cosine; no calibrated relevance from a collection this small (rag.relevance.MIN_POINTS).
    assert set(hits[0]["scores"]) == {"text"} and "relevance" in hits[0] and hits[0]["relevance"] is None
    pages = client.post(
        "/v1/search", headers=ACME, json={"query": "annual report", "filters": {"kinds": ["page"]}, "limit": 3}
    ).json()["hits"]
    assert pages and all(h["kind"] == "page" and h["page"] >= 1 for h in pages)
    assert pages[0]["location"].startswith("annual.pdf p.")

    # The signed links open the stored render without the API key; the thumbnail is smaller.
    full = client.get(pages[0]["image_url"])
    thumb = client.get(pages[0]["thumbnail_url"])
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 256 < max(Image.open(io.BytesIO(full.content)).size)


def test_reupload_replaces_the_source_and_delete_removes_it(make_client: Any) -> None:
    client = make_client("minilm")
    upload(client, ACME, {"notes.md": WARRANTY})
    again = upload(client, ACME, {"notes.md": WARRANTY})
    assert again["report"]["unchanged"] == 1 and again["report"]["ingested"] == 0
    changed = upload(client, ACME, {"notes.md": PANELS})
    assert changed["report"]["ingested"] == 1 and changed["report"]["points_deleted"] >= 1
    hits = client.post("/v1/search", headers=ACME, json={"query": "warranty", "limit": 10}).json()["hits"]
    assert [h["text"] for h in hits] == [PANELS.decode().strip()]

    (source,) = client.get("/v1/sources", headers=ACME).json()
    gone = client.delete(f"/v1/sources/{source['id']}", headers=ACME)
    assert gone.status_code == 200 and gone.json()["points"] >= 1
    assert client.get("/v1/sources", headers=ACME).json() == []
    assert client.post("/v1/search", headers=ACME, json={"query": "panels"}).json()["hits"] == []
    assert client.delete(f"/v1/sources/{source['id']}", headers=ACME).status_code == 404
    uploads = client.app.state.services.settings.upload_dir / "acme"
    assert not (uploads / "notes.md").exists()


def test_search_filters_by_source_and_modality(make_client: Any) -> None:
    client = make_client("clip")
    png = (EXAMPLES / "images" / "wiring-diagram.png").read_bytes()
    upload(client, ACME, {"warranty.md": WARRANTY, "panels.md": PANELS, "wiring.png": png})
    sources = {s["path"]: s["id"] for s in client.get("/v1/sources", headers=ACME).json()}
    only = client.post(
        "/v1/search", headers=ACME, json={"query": "warranty", "filters": {"sources": [sources["panels.md"]]}}
    ).json()["hits"]
    assert only and {h["path"] for h in only} == {"panels.md"}
    by_path = client.post(
        "/v1/search", headers=ACME, json={"query": "warranty", "filters": {"sources": ["warranty.md"]}}
    ).json()["hits"]
    assert {h["path"] for h in by_path} == {"warranty.md"}
    images = client.post(
        "/v1/search", headers=ACME, json={"query": "wiring", "filters": {"modalities": ["image"]}}
    ).json()["hits"]
    assert images and {h["modality"] for h in images} == {"image"}
    unknown = client.post("/v1/search", headers=ACME, json={"query": "x", "filters": {"sources": ["nope.md"]}})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "source_not_found"


def test_query_by_image_finds_that_image(make_client: Any) -> None:
    client = make_client("clip")
    images = {p.name: p.read_bytes() for p in sorted((EXAMPLES / "images").iterdir())}
    upload(client, ACME, {"warranty.md": WARRANTY, **images})
    query = EXAMPLES / "images" / "sunset-over-panels.jpg"
    body = {"image": "data:image/jpeg;base64," + base64.b64encode(query.read_bytes()).decode(), "limit": 3}
    hits = client.post("/v1/search", headers=ACME, json=body).json()["hits"]
    assert hits[0]["path"] == "sunset-over-panels.jpg"


def test_answer_as_json_and_as_server_sent_events(make_client: Any) -> None:
    generator = FakeGenerator("The battery warranty lasts ten years [1].")
    client = make_client("minilm", generator=generator)
    upload(client, ACME, {"warranty.md": WARRANTY, "panels.md": PANELS})
    question = {"question": "How long is the battery warranty?"}

    answer = client.post("/v1/answer", headers=ACME, json=question).json()
    assert answer["outcome"] == "answered" and answer["cited"] == [1]
    assert answer["sources"][0]["cited"] and answer["sources"][0]["hit"]["path"] == "warranty.md"

    with client.stream("POST", "/v1/answer", headers=ACME, json={**question, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
        events = _sse(response.iter_lines())
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert len(deltas) > 1 and "".join(deltas) == generator.text
    assert events[-1][0] == "answer" and events[-1][1]["cited"] == [1]


def _sse(lines: Any) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    name = "message"
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: ") :])))
            name = "message"
    return events


def test_answer_with_an_image_sends_it_to_the_model(make_client: Any) -> None:
    generator = FakeGenerator("It is the wiring diagram [1].")
    client = make_client("clip", generator=generator)
    png = EXAMPLES / "images" / "wiring-diagram.png"
    upload(client, ACME, {"wiring.png": png.read_bytes(), "warranty.md": WARRANTY})
    answer = client.post("/v1/answer", headers=ACME, json={"question": "What is this?", "image": _data_url(png)})
    assert answer.status_code == 200 and answer.json()["outcome"] == "answered"
    user = generator.calls[-1][-1]["content"]
    assert user[-1]["type"] == "image_url" and "not a source" in user[-2]["text"]


@pytest.mark.parametrize("broken", [True, False])
def test_readiness_reports_the_store(make_client: Any, monkeypatch: pytest.MonkeyPatch, broken: bool) -> None:
    client = make_client("minilm")
    assert client.get("/healthz").json() == {"status": "ok"}
    if broken:
        monkeypatch.setattr(client.app.state.services.rag._store, "ping", lambda: False)
    ready = client.get("/readyz")
    assert ready.status_code == (503 if broken else 200)
    assert ready.json()["checks"]["models"] == "ok"
    assert (ready.json()["checks"]["store"] == "ok") is not broken


def test_server_side_paths_only_under_allowed_roots(make_client: Any, tmp_path: Any) -> None:
    root = tmp_path / "shared"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "warranty.md").write_bytes(WARRANTY)
    outside = tmp_path / "private.md"
    outside.write_bytes(PANELS)
    (root / "escape.md").symlink_to(outside)

    disabled = make_client("minilm").post("/v1/ingest/paths", headers=ACME, json={"paths": [str(root)]})
    assert disabled.status_code == 403 and disabled.json()["error"]["code"] == "paths_disabled"

    client = make_client("minilm", data_dir=tmp_path / "other", api={"allowed_roots": [str(root)]})
    for bad, status in ((str(outside), 403), (str(root / ".." / "private.md"), 400), ("docs/warranty.md", 400)):
        response = client.post("/v1/ingest/paths", headers=ACME, json={"paths": [bad]})
        assert response.status_code == status, bad
        assert bad in response.json()["error"]["message"]
    accepted = client.post("/v1/ingest/paths", headers=ACME, json={"paths": [str(root)]})
    assert accepted.status_code == 202
    job = wait_job(client, accepted.json()["job"]["id"], ACME)
    assert job["report"]["ingested"] == 1  # warranty.md; the symlink that leaves the root is not followed
    assert job["report"]["failed"] == []
    skipped = [(f["path"], f["reason"]) for f in job["report"]["skipped"]]
    assert skipped == [(str(root / "escape.md"), "link leads outside the allowed roots")]  # its own name only
    assert [s["name"] for s in client.get("/v1/sources", headers=ACME).json()] == ["warranty.md"]


def test_queries_run_while_an_ingest_job_writes_to_the_embedded_store(make_client: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = make_client("minilm")
    upload(client, ACME, {"warranty.md": WARRANTY})
    files = [
        ("files", (f"bulk/{i:02d}.md", f"# Note {i}\n\n{PANELS.decode()} Note {i}.\n".encode())) for i in range(40)
    ]
    accepted = client.post("/v1/ingest", headers=ACME, files=files).json()

    def ask(i: int) -> tuple[int, str]:
        response = client.post("/v1/search", headers=ACME, json={"query": "battery warranty", "limit": 3})
        return response.status_code, response.json()["hits"][0]["path"]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(ask, range(24)))
    assert results == [(200, "warranty.md")] * 24
    job = wait_job(client, accepted["job"]["id"], ACME)
    assert job["status"] == "succeeded" and job["report"]["ingested"] == 40
    assert len(client.get("/v1/sources", headers=ACME).json()) == 41
