"""The Whisper recogniser on a tiny random Whisper: real transformers code paths, robust to any output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import ModelSpec, Settings
from rag.errors import ModelUnavailableError
from rag.loading import load_recognizer
from rag.speech import SpeechRecognizer, WhisperRecognizer


@pytest.fixture(scope="module")
def whisper(tiny_models: dict[str, Path]) -> WhisperRecognizer:
    return WhisperRecognizer.load(str(tiny_models["whisper"]), model_id="tiny-whisper", device="cpu")


def _ids(recognizer: WhisperRecognizer, *parts: str | float) -> list[int]:
    """Token ids for ``"text"`` parts and timestamp parts (seconds)."""
    tokenizer = recognizer._processor.tokenizer
    ids: list[int] = []
    for part in parts:
        if isinstance(part, float):
            ids.append(tokenizer.convert_tokens_to_ids(f"<|{part:.2f}|>"))
        else:
            ids.extend(tokenizer.encode(part, add_special_tokens=False))
    return ids


def test_the_tiny_whisper_satisfies_the_role_and_reads_30_second_windows_at_16_khz(whisper: WhisperRecognizer) -> None:
    assert isinstance(whisper, SpeechRecognizer)
    assert (whisper.sample_rate, whisper.window_s) == (16000, 30.0)


@pytest.mark.slow  # a real Whisper model
def test_a_window_of_noise_gives_ordered_segments_inside_the_window_and_a_language(whisper: WhisperRecognizer) -> None:
    samples = np.random.default_rng(0).normal(0, 0.1, 16000 * 12).astype(np.float32)
    assert whisper.detect_language(samples) in {"en", "de", "fr"}
    heard = whisper.transcribe(samples, language="de")
    assert 1.0 <= heard.heard_s <= 12.0
    assert all(0 <= s.start_s <= s.end_s <= 12.0 and s.text.strip() for s in heard.segments)
    assert [s.start_s for s in heard.segments] == sorted(s.start_s for s in heard.segments)


def test_timestamps_pair_into_segments_and_an_unfinished_last_segment_is_heard_again(
    whisper: WhisperRecognizer,
) -> None:
    ids = _ids(whisper, 0.0, "hello", 2.0, 2.0, "there", 4.5, 20.0, "half a sen")
    heard = whisper._segments(ids, 30.0)
    assert [(s.start_s, s.end_s, s.text) for s in heard.segments] == [(0.0, 2.0, "hello"), (2.0, 4.5, "there")]
    assert heard.heard_s == 20.0  # the next window starts where the unfinished segment began


def test_disordered_or_out_of_range_timestamps_and_empty_segments_are_cleaned(whisper: WhisperRecognizer) -> None:
    ids = _ids(whisper, 9.0, "late", 3.0, 1.0, " ", 2.0, 28.0, "beyond", 29.98)
    heard = whisper._segments(ids, 10.0)  # a 10 s window: 28 s and 29.98 s are clamped to 10 s
    assert [(s.start_s, s.end_s, s.text) for s in heard.segments] == [(3.0, 9.0, "late"), (10.0, 10.0, "beyond")]
    assert heard.heard_s == 10.0
    assert whisper._segments([], 10.0).segments == ()
    # words without any timestamp cover the window
    assert [(s.start_s, s.end_s) for s in whisper._segments(_ids(whisper, "no times"), 7.0).segments] == [(0.0, 7.0)]


def test_an_empty_window_is_heard_as_nothing(whisper: WhisperRecognizer) -> None:
    assert whisper.transcribe(np.zeros(0, dtype=np.float32), language=None).segments == ()


def _settings(**models: Any) -> Settings:
    return Settings(_env_file=None, models=models)  # type: ignore[call-arg]


def test_the_offline_profile_has_no_speech_model_and_says_so() -> None:
    recognizer, note = load_recognizer(_settings(profile="offline"), "offline")
    assert recognizer is None and note is not None and "RAG_MODELS__SPEECH__NAME" in note


def test_none_turns_speech_off_and_a_configured_model_that_cannot_load_is_an_error(tmp_path: Path) -> None:
    recognizer, note = load_recognizer(_settings(speech={"name": "none"}), "cpu")
    assert recognizer is None and note is not None and "disabled" in note
    with pytest.raises(ModelUnavailableError, match="RAG_MODELS__SPEECH__NAME"):
        load_recognizer(_settings(speech={"name": str(tmp_path / "missing")}), "cpu")


def test_a_profile_default_that_is_not_downloaded_only_turns_speech_off() -> None:
    settings = _settings(offline=True)  # the model hub is never asked
    recognizer, note = load_recognizer(settings, "auto→cpu")
    assert recognizer is None and note is not None and "openai/whisper-base" in note


def test_a_configured_local_whisper_loads(tiny_models: dict[str, Path]) -> None:
    spec = ModelSpec(name=str(tiny_models["whisper"]))
    recognizer, note = load_recognizer(_settings(speech=spec.model_dump()), "cpu")
    assert note is None and isinstance(recognizer, WhisperRecognizer)
    assert recognizer.model_id == str(tiny_models["whisper"].resolve())


def test_a_speech_model_that_is_not_whisper_is_refused_at_load_naming_the_setting(tmp_path: Path) -> None:
    from transformers import Wav2Vec2Config

    # A CTC checkpoint (wav2vec2) loads with transformers but has no timestamps in Whisper's form: refused before
    # its weights are read, with what to set instead.
    Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(
        tmp_path / "wav2vec2"
    )
    with pytest.raises(ModelUnavailableError, match="RAG_MODELS__SPEECH__NAME") as caught:
        load_recognizer(_settings(speech={"name": str(tmp_path / "wav2vec2")}), "cpu")
    assert "wav2vec2" in caught.value.reason and "Whisper" in caught.value.reason
