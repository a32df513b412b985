"""The API docs work offline: /docs and /redoc name only this server's URLs, and it serves them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.api import create_app
from rag.config import Settings

_URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']|spec-url=["']([^"']+)["']""")


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    # Not entered: no lifespan, no models; the docs need neither.
    return TestClient(create_app(Settings(_env_file=None, data_dir=tmp_path)))  # type: ignore[call-arg]


@pytest.mark.parametrize(("page", "assets"), [("/docs", {".js", ".css", ".png"}), ("/redoc", {".js", ".png"})])
def test_the_docs_pages_load_nothing_from_elsewhere(client: TestClient, page: str, assets: set[str]) -> None:
    html = client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "http://" not in html.text and "https://" not in html.text and "//cdn" not in html.text
    urls = {next(group for group in match if group) for match in _URL.findall(html.text)}
    assert "/openapi.json" in urls
    assert {Path(url).suffix for url in urls if url != "/openapi.json"} == assets
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 100, url
    kinds = {client.get(url).headers["content-type"].split(";")[0] for url in urls}
    assert "application/json" in kinds and ("text/javascript" in kinds or "application/javascript" in kinds)


def test_the_docs_are_not_in_the_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith(("/docs", "/redoc")) for p in paths)
