from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.config import Settings
from tests.support import env_names

REPO = Path(__file__).resolve().parents[2]


def test_defaults_use_the_embedded_store_under_the_data_dir():
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.qdrant.url is None
    assert s.qdrant_path == Path(".rag") / "qdrant"
    assert s.models.profile == "auto"
    assert (s.retrieval.fusion, s.retrieval.rrf_k) == ("dbsf", 60)


def test_environment_with_prefix_and_nested_delimiter(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_DATA_DIR", "/srv/rag")
    monkeypatch.setenv("RAG_QDRANT__URL", "http://qdrant:6333")
    monkeypatch.setenv("RAG_QDRANT__COLLECTION", "docs")
    monkeypatch.setenv("RAG_MODELS__TEXT__NAME", "/models/text")
    monkeypatch.setenv("RAG_MODELS__TEXT__REVISION", "abc123")
    monkeypatch.setenv("RAG_RETRIEVAL__FUSION", "dbsf")
    monkeypatch.setenv("RAG_CHUNKING__TOKENS", "128")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.data_dir == Path("/srv/rag")
    assert (s.qdrant.url, s.qdrant.collection) == ("http://qdrant:6333", "docs")
    assert s.models.text is not None and (s.models.text.name, s.models.text.revision) == ("/models/text", "abc123")
    assert s.retrieval.fusion == "dbsf" and s.chunking.tokens == 128


def test_dotenv_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / ".env").write_text("RAG_TENANT=acme\nRAG_RETRIEVAL__LIMIT=7\nRAG_IMAGES__MAX_PIXELS=50000\n")
    monkeypatch.setenv("RAG_RETRIEVAL__LIMIT", "3")
    s = Settings()
    assert s.tenant == "acme" and s.images.max_pixels == 50000
    assert s.retrieval.limit == 3


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("RAG_QDRANT__API_KEY", "changeme", "placeholder"),
        ("RAG_TENANT", "../etc", "invalid tenant"),
        ("RAG_CHUNKING__OVERLAP", "200", "overlap"),
        ("RAG_RETRIEVAL__FUSION", "max", "rrf"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str):
    monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_unknown_setting_in_dotenv_is_refused(tmp_path: Path):
    (tmp_path / ".env").write_text("RAG_NOT_A_SETTING=1\n")
    with pytest.raises(ValidationError, match="not_a_setting"):
        Settings()


def test_env_example_lists_every_setting_with_a_comment():
    text = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*(RAG_[A-Z0-9_]+)=", text, flags=re.M))
    assert listed == env_names(Settings)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^#?\s*RAG_", line):
            assert i > 0 and lines[i - 1].startswith("#") and not re.match(r"^#\s*RAG_", lines[i - 1]), line
