"""Audio through the API: an uploaded recording is transcribed, and its hits cite time ranges."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from rag.testing.audio import make_audio
from rag.testing.fakes import FakeRecognizer
from tests.rag.api.support import ACME, GLOBEX, upload

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


def _data_url(path: Path, mime: str = "audio/ogg") -> str:
    import base64

    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def test_search_by_a_recording_finds_the_same_window_through_the_audio_vector(make_client: Any, tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "applause.ogg", [("tone", 12.0), ("tone:880", 8.0)])
    client = make_client("clap")
    job = upload(client, ACME, {"sounds/applause.ogg": audio.read_bytes()})
    assert job["status"] == "succeeded" and job["report"]["ingested"] == 1, job["report"]
    body = {"audio": _data_url(audio), "rerank": True}
    out = client.post("/v1/search", headers=ACME, json=body).json()
    assert out["hits"][0]["location"] == "applause.ogg 00:00–00:10" and out["hits"][0]["modality"] == "audio"
    assert out["notes"] == ["not reranked: the reranker reads no audio query"]
    text = client.post("/v1/search", headers=ACME, json={"query": "applause"}).json()["hits"]
    assert {h["kind"] for h in text} == {"sound"}  # CLAP's text tower searches the sound windows


@pytest.mark.parametrize(
    ("audio", "code"),
    [
        ("https://example.com/a.wav", "bad_audio"),  # never fetched
        ("data:audio/wav;base64,!!!", "bad_audio"),
        ("data:audio/wav;base64," + "QUJD" * 10, "bad_audio"),  # valid base64, not audio
    ],
)
def test_a_bad_query_recording_is_a_400_naming_the_problem(make_client: Any, audio: str, code: str) -> None:
    response = make_client("clap").post("/v1/search", headers=ACME, json={"audio": audio})
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_an_audio_query_without_an_audio_vector_is_a_400_naming_the_setting(make_client: Any, tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "a.ogg", [("tone", 1.0)])
    response = make_client("minilm").post("/v1/search", headers=ACME, json={"audio": _data_url(audio)})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "audio_query_unsupported"
    assert "RAG_MODELS__AUDIO__NAME" in response.json()["error"]["message"]


def test_a_cited_time_range_plays_as_a_short_signed_opus_snippet(make_client: Any, tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    audio = make_audio(tmp_path / "memo.wav", [("tone", 12.0)])
    client = make_client("minilm", speech=FakeRecognizer(segment_s=4.0), audio={"passage_s": 8.0})
    upload(client, ACME, {"voice/memo.wav": audio.read_bytes()})
    hits = client.post("/v1/search", headers=ACME, json={"query": "words at 8"}).json()["hits"]
    hit = next(h for h in hits if h["location"] == "memo.wav 00:08–00:12")
    url = urlsplit(hit["audio_url"])
    assert url.path.startswith("/v1/snippets/")
    played = client.get(f"{url.path}?{url.query}")  # the signed link: no API key needed
    assert played.status_code == 200 and played.headers["content-type"] == "audio/ogg"
    from torchcodec.decoders import AudioDecoder

    decoded = AudioDecoder(played.content).get_all_samples()
    assert decoded.duration_seconds == pytest.approx(4.0, abs=0.1)  # the cited range, not the file
    # A tampered signature, another tenant's key, or no credentials at all: no sound.
    tampered = url.query[:-1] + ("1" if url.query.endswith("0") else "0")  # never the signature itself
    assert client.get(f"{url.path}?{tampered}").status_code == 401
    assert client.get(url.path).status_code == 401
    assert client.get(url.path, headers=ACME).status_code == 200
    assert client.get(url.path, headers=GLOBEX).status_code == 404
    bad_id = url.path.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert client.get(bad_id, headers=ACME).status_code == 404
