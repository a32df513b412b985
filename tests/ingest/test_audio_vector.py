"""The ``audio`` named vector: a tiny random CLAP (``ClapModel`` through sentence-transformers) embeds fixed
windows of audio files and soundtracks as ``sound`` points; text and recordings search them."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import Settings
from rag.embedder import AudioFormat, SentenceTransformerEmbedder, audio_format_of
from rag.errors import ConfigError, RetrievalError
from rag.records import AudioClip, SearchFilters
from rag.testing.audio import make_audio, make_video_with_audio
from rag.testing.fakes import FakeRecognizer

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


def _sounds(rag: Any) -> list[dict[str, Any]]:
    points = [{**p.payload, "vectors": sorted(p.vectors)} for p in rag._store.points() if p.payload["kind"] == "sound"]
    return sorted(points, key=lambda p: p["start_s"])


def test_a_clap_model_loads_through_sentence_transformers_with_text_and_audio(loaded_models: Any) -> None:
    embedder = loaded_models("clap").embedders["audio"]
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert {"text", "audio"} <= embedder.modalities
    assert audio_format_of(embedder) == AudioFormat(48_000, 10.0)
    sound = AudioClip(np.sin(np.linspace(0, 2000, 48_000 * 3)).astype(np.float32), 48_000)
    vectors = embedder.encode_documents([sound, sound])
    assert vectors.shape == (2, embedder.dimension)
    assert np.allclose(vectors[0], vectors[1], atol=1e-5)  # a window shorter than the model's: no random crop
    assert np.linalg.norm(embedder.encode_queries(["applause"])[0]) == pytest.approx(1.0, abs=1e-4)


def test_audio_at_another_rate_than_the_models_is_refused(loaded_models: Any) -> None:
    embedder = loaded_models("clap").embedders["audio"]
    with pytest.raises(Exception, match="48000 Hz"):
        embedder.encode_documents([AudioClip(np.zeros(16_000, dtype=np.float32), 16_000)])


@needs_ffmpeg
def test_audio_files_get_sound_points_that_tile_the_recording_without_speech(make_rag: Any, tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "concert.ogg", [("tone", 12.0), ("silence", 6.0), ("tone:880", 7.0)])
    rag = make_rag("clap")  # no speech recogniser: sounds alone are enough to load an audio file
    assert rag._recognizer() is None
    assert "audio" in {v.name for v in rag.schema.vectors}
    report = rag.ingest([audio], progress=False)
    assert report.ingested == 1 and report.failed == [] and report.skipped == []
    sounds = _sounds(rag)
    ranges = [(p["start_s"], p["end_s"]) for p in sounds]
    assert [round(a) for a, _ in ranges] == [0, 10, 20]
    assert ranges[-1][1] == pytest.approx(25.0, abs=0.1)
    assert all(b[0] == pytest.approx(a[1], abs=1e-3) for a, b in itertools.pairwise(ranges))  # tiling
    assert all(p["vectors"] == ["audio"] and p["modality"] == "audio" for p in sounds)

    hits = rag.search("the clip with the applause", filters=SearchFilters(modalities=["audio"]))
    assert {h.kind for h in hits} == {"sound"} and hits[0].location.startswith("concert.ogg 00:")
    assert hits[0].scores.keys() == {"audio"}

    query = rag.audio_query(audio)  # query by a recording: its first window
    assert query.sample_rate == 48_000 and query.seconds == pytest.approx(10.0, abs=0.05)
    by_sound = rag.search(query)
    assert by_sound[0].location == "concert.ogg 00:00–00:10"  # the same window: cosine 1
    assert by_sound[0].scores["audio"] == pytest.approx(1.0, abs=1e-4)
    assert rag.ingest([audio], progress=False).unchanged == 1


@needs_ffmpeg
def test_speech_and_sounds_together(make_rag: Any, tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "talk.wav", [("tone", 15.0)])
    rag = make_rag("clap", speech=FakeRecognizer(window_s=30.0, segment_s=5.0))
    report = rag.ingest([audio], progress=False)
    assert report.ingested == 1
    kinds = sorted(p.payload["kind"] for p in rag._store.points())
    assert kinds.count("sound") == 2 and "text" in kinds
    # A text query reaches both: the transcript through the text vectors, the sounds through CLAP's text tower.
    assert {h.kind for h in rag.search("words at 5", limit=20)} == {"text", "sound"}


@needs_ffmpeg
def test_a_video_soundtrack_gets_sound_points_shown_with_the_keyframe(make_rag: Any, tmp_path: Path) -> None:
    video = make_video_with_audio(tmp_path / "talk.mp4", 24.0)
    rag = make_rag("clap", video={"clip_s": 12.0, "overlap_s": 0.0})
    report = rag.ingest([video], progress=False)
    assert report.ingested == 1, report
    sounds = _sounds(rag)
    assert [(round(p["start_s"]), round(p["end_s"])) for p in sounds] == [(0, 10), (10, 20), (20, 24)]
    refs = [p["image_ref"] for p in sounds]  # the keyframe of the clip each window's middle falls in
    assert refs[0] is not None and refs[0] != refs[1] and refs[1] == refs[2]
    assert "clip-00000" in refs[0] and "clip-00001" in refs[1]


@needs_ffmpeg
def test_a_silent_video_has_no_sound_points_and_does_not_fail(make_rag: Any, tmp_path: Path) -> None:
    from rag.testing.videos import make_video

    video = make_video(tmp_path / "silent.mp4", [("red", 4.0)])
    rag = make_rag("clap")
    report = rag.ingest([video], progress=False)
    assert report.failed == [] and _sounds(rag) == []
    assert "image vector disabled" in report.skipped[0].reason  # its keyframes: no image model in this profile


def test_without_an_audio_model_there_is_no_audio_vector_and_info_says_so(make_rag: Any) -> None:
    rag = make_rag("minilm")
    assert "audio" not in {v.name for v in rag.schema.vectors}
    assert rag.models.disabled["audio"] == "no model in profile offline"
    with pytest.raises(RetrievalError, match="RAG_MODELS__AUDIO__NAME"):
        rag.audio_query(b"RIFF")


def test_a_query_recording_that_is_not_audio_is_a_retrieval_error(make_rag: Any) -> None:
    rag = make_rag("clap")
    with pytest.raises(RetrievalError, match="query audio"):
        rag.audio_query(b"this is not audio at all")


def test_an_audio_model_without_an_audio_modality_is_refused_naming_the_setting(tiny_models: dict[str, Path]) -> None:
    from rag.loading import load_embedders

    settings = Settings(_env_file=None, models={"profile": "offline", "audio": {"name": str(tiny_models["clip"])}})  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="RAG_MODELS__AUDIO__NAME"):
        load_embedders(settings)


def test_the_profiles_audio_model_missing_only_disables_the_audio_vector(tmp_path: Path) -> None:
    from rag.loading import load_embedders

    # The gpu profile names laion/clap-htsat-unfused, which offline with an empty cache cannot be found; the other
    # vectors are overridden so that the profile can load here.
    models: dict[str, Any] = {
        "profile": "gpu",
        "offline": True,
        "cache_dir": str(tmp_path),
        "text": {"name": "bundled:all-MiniLM-L6-v2"},
        "image": {"name": "none"},
        "video": {"name": "none"},
    }
    loaded = load_embedders(Settings(_env_file=None, models=models))  # type: ignore[call-arg]
    assert "audio" not in loaded.embedders and "text" in loaded.embedders
    assert "laion/clap-htsat-unfused unavailable" in loaded.disabled["audio"]
    # Named explicitly, the same model is an error that names the setting.
    explicit = {**models, "audio": {"name": "laion/clap-htsat-unfused"}}
    with pytest.raises(ConfigError, match="RAG_MODELS__AUDIO__NAME"):
        load_embedders(Settings(_env_file=None, models=explicit))  # type: ignore[call-arg]


@needs_ffmpeg
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng (apt-get install espeak-ng)")
def test_real_speech_from_espeak_goes_through_whisper_and_clap(
    make_rag: Any, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """Plumbing with real speech (not the words: the models are random): espeak-ng's voice, decoded from MP3,
    transcribed by the tiny Whisper's real code path and embedded by the tiny CLAP."""
    from rag.speech import WhisperRecognizer
    from rag.testing.audio import speak

    text = " ".join(["The battery warranty lasts ten years from the date of installation."] * 4)
    audio = speak(tmp_path / "voice-note.mp3", text)
    whisper = WhisperRecognizer.load(str(tiny_models["whisper"]), model_id="tiny/whisper", device="cpu")
    rag = make_rag("clap", speech=whisper, audio={"language": "en"})
    report = rag.ingest([audio], progress=False)
    assert report.ingested == 1 and report.failed == []
    points = [p.payload for p in rag._store.points() if p.payload.get("kind") in ("text", "sound")]
    duration = max(p["end_s"] for p in points)
    sounds = sorted((p for p in points if p["kind"] == "sound"), key=lambda p: p["start_s"])
    assert len(sounds) == int(duration // 10) + (duration % 10 > 0.05)
    assert sounds[-1]["end_s"] == pytest.approx(duration, abs=0.1)
    for p in (p for p in points if p["kind"] == "text"):  # a random model may hear anything, but inside the file
        assert 0 <= p["start_s"] <= p["end_s"] <= duration + 1e-3
        assert p["language"] == "en" and p["speech_model"] == "tiny/whisper"
    assert rag.search(rag.audio_query(audio))[0].location.startswith("voice-note.mp3 00:00–00:")
