"""The Whisper and CTC recognisers on tiny random models: real transformers code paths, robust to any output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import ModelSpec, Settings
from rag.errors import ModelUnavailableError
from rag.loading import load_recognizer
from rag.speech import CtcRecognizer, Segment, SpeechRecognizer, WhisperRecognizer, group_words, load_speech_model


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


def test_a_configured_local_ctc_model_loads(tiny_models: dict[str, Path]) -> None:
    spec = ModelSpec(name=str(tiny_models["wav2vec2_ctc"]))
    recognizer, note = load_recognizer(_settings(speech=spec.model_dump()), "cpu")
    assert note is None and isinstance(recognizer, CtcRecognizer)
    assert recognizer.model_id == str(tiny_models["wav2vec2_ctc"].resolve())


def _save_config(path: Path, kind: str) -> Path:
    from transformers import Speech2TextConfig, Wav2Vec2Config

    if kind == "speech2text":  # a seq2seq speech model that is not Whisper: no timestamp tokens in its form
        config: Any = Speech2TextConfig(d_model=32, encoder_layers=1, decoder_layers=1)
        config.architectures = ["Speech2TextForConditionalGeneration"]
    else:  # a wav2vec2 encoder saved without a CTC head: it would load with a random one
        config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        config.architectures = ["Wav2Vec2ForPreTraining"]
    config.save_pretrained(path)
    return path


@pytest.mark.parametrize(("kind", "named"), [("speech2text", "speech_to_text"), ("pretraining", "ForPreTraining")])
def test_a_speech_model_neither_whisper_nor_ctc_is_refused_at_load_naming_the_setting(
    tmp_path: Path, kind: str, named: str
) -> None:
    # Refused from its config, before any weights are read (there are none here), with what is supported.
    path = _save_config(tmp_path / kind, kind)
    with pytest.raises(ModelUnavailableError, match="RAG_MODELS__SPEECH__NAME") as caught:
        load_recognizer(_settings(speech={"name": str(path)}), "cpu")
    assert named in caught.value.reason
    assert "Whisper" in caught.value.reason and "AutoModelForCTC" in caught.value.reason


@pytest.fixture(scope="module")
def ctc(tiny_models: dict[str, Path]) -> CtcRecognizer:
    recognizer = load_speech_model(str(tiny_models["wav2vec2_ctc"]), model_id="tiny-ctc", device="cpu")
    assert isinstance(recognizer, CtcRecognizer)
    return recognizer


def test_the_tiny_ctc_model_satisfies_the_role_with_20_ms_frames_and_no_language(ctc: CtcRecognizer) -> None:
    assert isinstance(ctc, SpeechRecognizer)
    assert (ctc.sample_rate, ctc.window_s, ctc._frame_s) == (16000, 30.0, 0.02)
    assert ctc.detect_language(np.zeros(16000, dtype=np.float32)) is None
    assert ctc.transcribe(np.zeros(0, dtype=np.float32), language=None).segments == ()


def test_a_window_of_noise_gives_ordered_segments_inside_the_window(ctc: CtcRecognizer) -> None:
    samples = np.random.default_rng(0).normal(0, 0.1, 16000 * 30).astype(np.float32)
    heard = ctc.transcribe(samples, language="en")
    assert heard.segments  # random weights spell random characters, but they do spell some
    assert 1.0 <= heard.heard_s <= 30.0
    assert all(0 <= s.start_s <= s.end_s <= heard.heard_s and s.text.strip() for s in heard.segments)
    assert [s.start_s for s in heard.segments] == sorted(s.start_s for s in heard.segments)
    assert all(s.end_s - s.start_s <= 8.0 or " " not in s.text for s in heard.segments)


def _frames(ctc: CtcRecognizer, *parts: str | int) -> list[int]:
    """A greedy CTC path: ``"a|b"`` spells one character a frame (``"|"`` between words), ``n`` is n blank frames."""
    tokenizer = ctc._processor.tokenizer
    ids: list[int] = []
    for part in parts:
        if isinstance(part, int):
            ids.extend([tokenizer.pad_token_id] * part)
        else:
            ids.extend(tokenizer.convert_tokens_to_ids(list(part)))
    return ids


def test_ctc_word_offsets_become_segment_times_at_20_ms_a_frame(ctc: CtcRecognizer) -> None:
    # "hi" in frames 0-1, "there" in 3-7, a 1 s pause (50 frames) with no "|" spelled, "again" in 58-62, silence.
    ids = _frames(ctc, "hi|there", 50, "again", 437)
    assert len(ids) == 500
    heard = ctc._window(ids, 10.0)
    assert [(s.start_s, s.end_s, s.text) for s in heard.segments] == [(0.0, 0.16, "hi there"), (1.16, 1.26, "again")]
    assert heard.heard_s == 10.0


def test_speech_running_into_the_end_of_a_full_window_is_heard_again(ctc: CtcRecognizer) -> None:
    ids = _frames(ctc, 100, "one", 400, "cut")  # "cut" starts at 10.06 s in a 10.12 s window
    ctc_short = CtcRecognizer(ctc._model, ctc._processor, model_id="short")
    ctc_short.window_s = 10.12
    heard = ctc_short._window(ids, 10.12)
    assert [s.text for s in heard.segments] == ["one"] and heard.heard_s == 10.06
    # a window shorter than window_s is the end of the stream: nothing comes after, so it is all heard
    heard = ctc._window(ids, 10.12)
    assert [s.text for s in heard.segments] == ["one", "cut"] and heard.heard_s == 10.12


def test_words_group_into_segments_at_pauses_sentence_ends_and_a_length_cap() -> None:
    words = [
        ("so", 0.0, 0.2),
        ("we", 0.3, 0.4),  # 0.1 s gap: same segment
        ("start.", 0.5, 0.9),  # a sentence end closes it
        ("then", 1.0, 1.2),
        ("", 1.3, 1.4),  # nothing spelled: dropped
        ("after", 2.0, 2.3),  # 0.8 s pause: a new segment
        *((f"w{i}", 2.4 + i, 3.2 + i) for i in range(6)),  # 0.2 s gaps; w5 would make the segment span 6.2 s > 6 s
    ]
    segments = group_words(words, pause_s=0.5, max_s=6.0)
    assert segments == [
        Segment(0.0, 0.9, "so we start."),
        Segment(1.0, 1.2, "then"),
        Segment(2.0, 7.2, "after w0 w1 w2 w3 w4"),
        Segment(7.4, 8.2, "w5"),
    ]
    assert group_words([]) == [] and group_words([("  ", 0.0, 1.0)]) == []
    assert group_words([("longword", 0.0, 12.0)], max_s=6.0) == [Segment(0.0, 12.0, "longword")]
