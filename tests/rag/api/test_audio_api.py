"""Audio through the API: an uploaded recording is transcribed, and its hits cite time ranges."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from rag.testing.audio import make_audio
from rag.testing.fakes import FakeRecognizer
from tests.rag.api.support import ACME, upload

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


def test_an_uploaded_recording_is_transcribed_and_its_hits_cite_time_ranges(make_client: Any, tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "memo.opus", [("tone", 12.0)])
    client = make_client("minilm", speech=FakeRecognizer(segment_s=4.0), audio={"passage_s": 8.0})
    job = upload(client, ACME, {"voice/memo.opus": audio.read_bytes()})
    assert job["status"] == "succeeded" and job["report"]["ingested"] == 1, job["report"]
    body = {"query": "words at 8", "filters": {"kinds": ["text"]}}
    hits = client.post("/v1/search", headers=ACME, json=body).json()["hits"]
    assert {h["location"] for h in hits} == {"memo.opus 00:00–00:08", "memo.opus 00:08–00:12"}
    assert all(h["mime_type"] == "audio/opus" for h in hits)
