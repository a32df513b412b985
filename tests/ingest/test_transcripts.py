"""Soundtracks decoded and transcribed window by window: windows tile the audio, nothing is decoded at once,
bad files fail with the reason."""

from __future__ import annotations

import itertools
import shutil
import wave
from pathlib import Path

import pytest

from ingest.chunking import Chunker, TokenSpans
from ingest.transcripts import Soundtrack, chunk_segments, passages
from rag.errors import SourceLoadError
from rag.speech import Segment
from rag.testing.audio import make_audio, make_video_with_audio
from rag.testing.fakes import FakeRecognizer
from rag.testing.videos import make_video

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


@pytest.mark.parametrize("suffix", [".mp3", ".wav", ".m4a", ".flac", ".ogg", ".opus"])
def test_every_audio_format_streams_in_windows_that_tile_the_recording(tmp_path: Path, suffix: str) -> None:
    audio = make_audio(tmp_path / f"talk{suffix}", [("tone", 5.0), ("silence", 2.0)])
    fake = FakeRecognizer(window_s=3.0, segment_s=1.5)
    track = Soundtrack(audio, fake)
    segments = list(track.segments())
    assert track.language == "en" and fake.languages == ["en"] * len(fake.windows)
    assert len(fake.windows) == 3 and max(fake.windows) <= 3 * 16000  # 3 + 3 + 1 s, never more than a window
    assert sum(fake.windows) == pytest.approx(7 * 16000, abs=0.1 * 16000)  # resampled to 16 kHz mono
    assert segments[0].start_s == 0.0 and segments[-1].end_s == pytest.approx(7.0, abs=0.1)
    for before, after in itertools.pairwise(segments):
        assert after.start_s == pytest.approx(before.end_s, abs=1e-3)  # contiguous: the windows tile the audio


def test_what_a_window_did_not_finish_is_decoded_again_with_what_follows(tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "talk.wav", [("tone", 10.0)])
    fake = FakeRecognizer(window_s=4.0, segment_s=1.0, heard_s=3.0)  # each window finishes only its first 3 s
    segments = list(Soundtrack(audio, fake).segments())
    assert fake.windows[:3] == [4 * 16000] * 3  # windows start at 0, 3, 6 s: always full, the tail carried over
    assert [s.start_s for s in segments] == [float(t) for t in range(10)]
    assert segments[-1].end_s == 10.0


def test_a_forced_language_is_used_and_not_detected(tmp_path: Path) -> None:
    fake = FakeRecognizer(language="fr")
    track = Soundtrack(make_audio(tmp_path / "a.flac", [("tone", 1.0)]), fake, language="de")
    list(track.segments())
    assert track.language == "de" and fake.languages == ["de"]


def test_a_video_soundtrack_is_read_like_an_audio_file(tmp_path: Path) -> None:
    video = make_video_with_audio(tmp_path / "v.mp4", 4.0)
    segments = list(Soundtrack(video, FakeRecognizer(window_s=30.0, segment_s=2.0)).segments())
    assert [s.start_s for s in segments] == [0.0, 2.0]


def test_bad_audio_fails_with_the_reason(tmp_path: Path) -> None:
    silent_video = make_video(tmp_path / "silent.mp4")
    with pytest.raises(SourceLoadError, match="no audio stream"):
        Soundtrack(silent_video, FakeRecognizer())
    garbage = tmp_path / "broken.mp3"
    garbage.write_bytes(b"not audio at all " * 64)
    with pytest.raises(SourceLoadError, match="not a readable audio file"):
        Soundtrack(garbage, FakeRecognizer())
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
    with pytest.raises(SourceLoadError, match="zero length"):
        list(Soundtrack(empty, FakeRecognizer()).segments())
    long = make_audio(tmp_path / "long.ogg", [("silence", 8.0)])
    with pytest.raises(SourceLoadError, match=r"over the cap .*audio.max_duration_s"):
        Soundtrack(long, FakeRecognizer(), max_duration_s=5.0)


def test_passages_group_segments_and_chunks_keep_the_time_range_of_their_words(minilm_spans: TokenSpans) -> None:
    segments = [Segment(float(i), float(i + 1), f"sentence number {i} is here.") for i in range(10)]
    groups = list(passages(iter(segments), 4.0))
    assert [len(g) for g in groups] == [4, 4, 2]
    chunker = Chunker(minilm_spans, 16, 0)
    chunks = chunk_segments(chunker, groups[0])
    assert len(chunks) > 1
    assert chunks[0][1] == 0.0 and chunks[-1][2] == 4.0
    assert all(start < end for _, start, end in chunks)
    assert chunk_segments(chunker, []) == []


def test_a_header_that_promises_more_audio_than_there_is_ends_the_stream_cleanly(tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "talk.mp3", [("tone", 5.0)])
    fake = FakeRecognizer(window_s=2.0, segment_s=1.0)
    track = Soundtrack(audio, fake)
    assert track.duration_s is not None
    track.duration_s += 3.0  # MP3 durations are estimated: a 60 min file's header said 0.1 s more than it had
    segments = list(track.segments())
    assert segments[-1].end_s == pytest.approx(5.0, abs=0.1)
