"""Audio files and video soundtracks through the whole pipeline: time-ranged transcript points that cite
``talk.mp3 00:00–00:30``, sidecars win over speech, re-ingest is skipped, bad or silent files are reported."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest

from rag.records import SearchFilters
from rag.testing.audio import make_audio, make_video_with_audio
from rag.testing.fakes import FakeRecognizer
from rag.testing.videos import write_srt

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


def _texts(rag: Any) -> list[dict[str, Any]]:
    points = [{**p.payload, "vectors": sorted(p.vectors)} for p in rag._store.points() if p.payload["kind"] == "text"]
    return sorted(points, key=lambda p: (p["start_s"], p["locator"]))


def test_an_audio_file_becomes_time_ranged_text_points_that_cite_their_range(make_rag: Any, tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "meeting.mp3", [("tone", 40.0), ("silence", 30.0)])
    fake = FakeRecognizer(window_s=30.0, segment_s=10.0)
    rag = make_rag("minilm", speech=fake, audio={"passage_s": 30.0})
    report = rag.ingest([audio], progress=False)
    assert report.ingested == 1 and report.failed == []
    points = _texts(rag)
    ranges = [(p["start_s"], p["end_s"]) for p in points]
    assert ranges[0][0] == 0.0 and ranges[-1][1] == pytest.approx(70.0, abs=0.2)
    assert all(b[0] == pytest.approx(a[1], abs=1e-3) for a, b in itertools.pairwise(ranges))  # tiling
    assert all(p["language"] == "en" and p["speech_model"] == "fake/speech" for p in points)
    assert all(p["vectors"] == ["sparse", "text"] and p["mime_type"] == "audio/mpeg" for p in points)
    assert "words at 10" in points[0]["text"]

    hits = rag.search("words at 20", filters=SearchFilters(kinds=["text"]))
    assert hits and hits[0].location.startswith("meeting.mp3 00:")
    assert {h.location for h in hits} >= {"meeting.mp3 00:00–00:30"}
    assert rag.ingest([audio], progress=False).unchanged == 1  # content hash: not transcribed again
    assert len(fake.windows) == 3


def test_without_a_speech_model_audio_is_skipped_with_the_setting_to_change(make_rag: Any, tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "note.wav", [("tone", 1.0)])
    report = make_rag("minilm").ingest([audio], progress=False)
    assert report.ingested == 0 and report.failed == []
    assert "RAG_MODELS__SPEECH__NAME" in report.skipped[0].reason


def test_silence_gives_no_points_and_says_why(make_rag: Any, tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "quiet.ogg", [("silence", 2.0)])
    report = make_rag("minilm", speech=FakeRecognizer(silent=True)).ingest([audio], progress=False)
    assert report.ingested == 0 and "no speech recognised" in report.skipped[0].reason


def test_a_broken_or_too_long_audio_file_fails_with_the_reason(make_rag: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(b"\x00not audio" * 100)
    long = make_audio(tmp_path / "long.flac", [("silence", 6.0)])
    rag = make_rag("minilm", speech=FakeRecognizer(), audio={"max_duration_s": 5.0})
    report = rag.ingest([broken, long], progress=False)
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    assert "not a readable audio file" in reasons["broken.m4a"]
    assert "over the cap" in reasons["long.flac"] and "audio.max_duration_s" in reasons["long.flac"]


def _video_texts(rag: Any) -> list[tuple[float, str]]:
    return [(p["start_s"], p["locator"].split("/")[1].split("-")[0]) for p in _texts(rag)]


def test_a_video_without_subtitles_is_transcribed_per_clip_and_a_sidecar_wins(make_rag: Any, tmp_path: Path) -> None:
    video = make_video_with_audio(tmp_path / "talk.mp4", 8.0)
    fake = FakeRecognizer(segment_s=2.0)
    rag = make_rag("clip", speech=fake, video={"clip_s": 4, "overlap_s": 0})
    rag.ingest([video], progress=False)
    assert _video_texts(rag) == [(0.0, "speech"), (4.0, "speech")]
    speech = _texts(rag)
    assert speech[0]["text"] == "words at 0 words at 2" and speech[0]["image_ref"] and speech[0]["language"] == "en"

    write_srt(video.with_suffix(".srt"), [(0.5, 3.0, "the subtitles say this")])
    again = rag.ingest([video], progress=False)
    assert again.ingested == 1
    assert _video_texts(rag) == [(0.0, "subtitles")]  # the sidecar wins: the soundtrack is not transcribed


def test_transcribe_always_gives_subtitles_and_speech(make_rag: Any, tmp_path: Path) -> None:
    video = make_video_with_audio(tmp_path / "talk.mp4", 4.0)
    write_srt(video.with_suffix(".srt"), [(0.5, 3.0, "the subtitles say this")])
    rag = make_rag("clip", speech=FakeRecognizer(), video={"clip_s": 4, "overlap_s": 0, "transcribe": "always"})
    rag.ingest([video], progress=False)
    assert sorted(kind for _, kind in _video_texts(rag)) == ["speech", "subtitles"]


def test_turning_speech_on_reingests_videos_without_subtitles(make_rag: Any, tmp_path: Path) -> None:
    video = make_video_with_audio(tmp_path / "talk.mp4", 4.0)
    settings = {"video": {"clip_s": 4, "overlap_s": 0}, "data_dir": tmp_path / "shared-data"}
    first = make_rag("clip", **settings)
    first.ingest([video], progress=False)
    first.close()
    second = make_rag("clip", speech=FakeRecognizer(), **settings)
    report = second.ingest([video], progress=False)
    assert report.ingested == 1 and [kind for _, kind in _video_texts(second)] == ["speech"]


def test_a_tiny_random_whisper_runs_end_to_end(make_rag: Any, tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    from rag.speech import WhisperRecognizer

    whisper = WhisperRecognizer.load(str(tiny_models["whisper"]), model_id="tiny", device="cpu")
    audio = make_audio(tmp_path / "memo.wav", [("tone", 35.0), ("silence", 5.0)])
    rag = make_rag("minilm", speech=whisper)
    report = rag.ingest([audio], progress=False)
    assert report.failed == []
    points = _texts(rag)  # random weights say anything (or nothing); the plumbing must hold either way
    assert all(0.0 <= p["start_s"] <= p["end_s"] <= 40.1 for p in points)
    assert all(p["language"] in {"en", "de", "fr"} for p in points)
    assert report.ingested == 1 if points else "no speech recognised" in report.skipped[0].reason


def test_a_tiny_random_ctc_model_runs_end_to_end(make_rag: Any, tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    """A wav2vec2 CTC checkpoint through the real pipeline: segment times from its frame alignment, window by
    window (75 s: three 30 s windows at least), ordered and inside the recording; citations carry them."""
    from rag.speech import CtcRecognizer, load_speech_model

    ctc = load_speech_model(str(tiny_models["wav2vec2_ctc"]), model_id="tiny/ctc", device="cpu")
    assert isinstance(ctc, CtcRecognizer)
    tones = [("tone", 20.0), ("tone:880", 25.0), ("silence", 5.0), ("tone:300", 25.0)]
    audio = make_audio(tmp_path / "lecture.flac", tones)
    rag = make_rag("minilm", speech=ctc, audio={"passage_s": 20.0})
    report = rag.ingest([audio], progress=False)
    assert report.ingested == 1 and report.failed == []
    points = _texts(rag)
    assert len(points) >= 3
    ranges = [(p["start_s"], p["end_s"]) for p in points]
    assert all(0.0 <= a <= b <= 75.0 + 1e-3 for a, b in ranges) and ranges == sorted(ranges)
    assert max(b for _, b in ranges) > 60.0  # the last window was transcribed too
    assert all(p["speech_model"] == "tiny/ctc" and p.get("language") is None for p in points)  # CTC: no language
    hits = rag.search(points[0]["text"], filters=SearchFilters(kinds=["text"]))
    assert hits and {(h.start_s, h.end_s) for h in hits} <= set(ranges)
    for hit in hits:
        assert hit.start_s is not None and hit.end_s is not None
        minutes = f"{int(hit.start_s // 60):02d}:{int(hit.start_s % 60):02d}"
        assert hit.location.startswith(f"lecture.flac {minutes}–")
    assert rag.ingest([audio], progress=False).unchanged == 1
