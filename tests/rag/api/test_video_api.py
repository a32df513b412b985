"""Videos through the API: an upload with its subtitle sidecar, time-range hits, keyframes served."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from rag.testing.videos import make_video, write_srt
from tests.rag.api.support import ACME, upload

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


@pytest.fixture
def talk(tmp_path: Path) -> Path:
    video = make_video(tmp_path / "talk.mp4", [("red", 4), ("blue", 4)])
    write_srt(tmp_path / "talk.srt", [(0.5, 3.0, "the battery warranty lasts ten years")])
    return video


def test_the_api_ingests_an_uploaded_video_with_its_subtitles_and_serves_keyframes(
    make_client: Any, talk: Path
) -> None:
    client = make_client("clip", video={"clip_s": 4, "overlap_s": 0})
    job = upload(
        client, ACME, {"talks/talk.mp4": talk.read_bytes(), "talks/talk.srt": talk.with_suffix(".srt").read_bytes()}
    )
    assert job["status"] == "succeeded" and job["report"]["notes"], job["report"]
    assert [s["path"] for s in client.get("/v1/sources", headers=ACME).json()] == ["talks/talk.mp4"]
    body = {"query": "battery warranty", "filters": {"kinds": ["text"]}}
    hit = client.post("/v1/search", headers=ACME, json=body).json()["hits"][0]
    assert hit["location"] == "talk.mp4 00:00–00:04" and hit["start_s"] == 0 and hit["end_s"] == 4
    keyframe = client.get(hit["image_url"])
    assert keyframe.status_code == 200 and keyframe.headers["content-type"] == "image/jpeg"


def test_uploading_new_subtitles_alone_reingests_their_video(make_client: Any, talk: Path, tmp_path: Path) -> None:
    client = make_client("clip", video={"clip_s": 4, "overlap_s": 0})
    upload(client, ACME, {"talk.mp4": talk.read_bytes(), "talk.srt": talk.with_suffix(".srt").read_bytes()})
    newer = write_srt(tmp_path / "new.srt", [(4.5, 6.0, "the inverter needs a firmware update")])
    job = upload(client, ACME, {"talk.srt": newer.read_bytes()})
    assert job["status"] == "succeeded" and job["report"]["ingested"] == 1, job["report"]
    hits = client.post("/v1/search", headers=ACME, json={"query": "x", "filters": {"kinds": ["text"]}}).json()["hits"]
    assert [(h["text"], h["location"]) for h in hits] == [
        ("the inverter needs a firmware update", "talk.mp4 00:04–00:08")
    ]
