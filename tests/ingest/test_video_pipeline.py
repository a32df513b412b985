"""Videos through the whole pipeline: clip, keyframe and subtitle points with time ranges; keyframes only
without a video model; sidecar edits re-ingest; answers attach keyframes; the API serves them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from rag.records import SearchFilters
from rag.testing.fakes import FakeGenerator
from rag.testing.videos import make_video, write_srt

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")

CUES = [(0.5, 3.0, "the battery warranty lasts ten years"), (5.0, 7.5, "clean the panels twice a year")]


@pytest.fixture
def talk(tmp_path: Path) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir()
    video = make_video(folder / "talk.mp4", [("red", 4), ("blue", 4)])
    write_srt(folder / "talk.srt", CUES)
    return video


def _points(rag: Any) -> list[dict[str, Any]]:
    return [{**p.payload, "vectors": sorted(p.vectors)} for p in rag._store.points() if p.payload["kind"] != "source"]


def test_a_video_becomes_clip_keyframe_and_subtitle_points_with_time_ranges(make_rag: Any, talk: Path) -> None:
    rag = make_rag("qwen", video={"clip_s": 4, "overlap_s": 0, "frames_per_clip": 4})
    report = rag.ingest([talk.parent], progress=False)
    assert report.ingested == 1 and report.failed == [] and report.notes == []
    points = _points(rag)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        by_kind.setdefault(point["kind"], []).append(point)
    assert sorted((p["start_s"], p["end_s"]) for p in by_kind["clip"]) == [(0, 4), (4, 8)]
    assert all(p["vectors"] == ["video"] and p["fps"] == 1.0 and p["frame_count"] == 4 for p in by_kind["clip"])
    assert all(p["vectors"] == ["image"] for p in by_kind["keyframe"]) and len(by_kind["keyframe"]) == 2
    texts = sorted((p["start_s"], p["text"]) for p in by_kind["text"])
    assert texts == [(0, CUES[0][2]), (4, CUES[1][2])]
    keyframes = {p["start_s"]: p["image_ref"] for p in by_kind["keyframe"]}
    for point in by_kind["clip"] + by_kind["text"]:
        assert point["image_ref"] == keyframes[point["start_s"]]
        assert rag.media_file(point["image_ref"]).is_file()

    hits = rag.search("panels", filters=SearchFilters(kinds=["text"]))
    assert {h.location for h in hits} == {"talk.mp4 00:00–00:04", "talk.mp4 00:04–00:08"}
    clips = rag.search("anything", filters=SearchFilters(modalities=["video"]))
    assert clips and all(h.kind == "clip" and h.location.startswith("talk.mp4 00:0") for h in clips)


def test_without_a_video_model_videos_give_keyframes_and_subtitles_and_the_report_says_so(
    make_rag: Any, talk: Path
) -> None:
    rag = make_rag("clip", video={"clip_s": 4, "overlap_s": 0})
    report = rag.ingest([talk], progress=False)
    assert report.ingested == 1
    assert len(report.notes) == 1 and "keyframes and subtitles only" in report.notes[0]
    assert sorted(p["kind"] for p in _points(rag)) == ["keyframe", "keyframe", "text", "text"]


def test_editing_the_subtitles_reingests_the_video(make_rag: Any, talk: Path) -> None:
    rag = make_rag("clip", video={"clip_s": 4, "overlap_s": 0})
    rag.ingest([talk], progress=False)
    assert rag.ingest([talk], progress=False).unchanged == 1
    write_srt(talk.with_suffix(".srt"), [(0.5, 3.0, "the inverter needs a firmware update")])
    again = rag.ingest([talk], progress=False)
    assert again.ingested == 1 and again.points_deleted > 0
    texts = [p["text"] for p in _points(rag) if p["kind"] == "text"]
    assert texts == ["the inverter needs a firmware update"]


def test_answers_cite_time_ranges_and_attach_the_keyframes(make_rag: Any, talk: Path) -> None:
    generator = FakeGenerator("The warranty lasts ten years [1].")
    rag = make_rag("clip", generator=generator, video={"clip_s": 4, "overlap_s": 0})
    rag.ingest([talk], progress=False)
    answer = rag.answer("how long is the battery warranty?", filters=SearchFilters(kinds=["text"]))
    # the model saw the clip's range; the citation narrows it to the subtitle line the answer relies on
    hit = answer.sources[0].hit
    assert (hit.start_s, hit.end_s) == (0.5, 3.0) and hit.location == "talk.mp4 00:00–00:03"
    parts = generator.calls[-1][-1]["content"]
    first = next(i for i, p in enumerate(parts) if p["type"] == "text" and "talk.mp4 00:00–00:04" in p["text"])
    assert parts[first + 1]["type"] == "image_url"  # the clip's keyframe follows its source block
