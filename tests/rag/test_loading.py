from __future__ import annotations

from pathlib import Path

import pytest

from rag import loading
from rag.config import Settings
from rag.errors import ConfigError, ModelUnavailableError


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "_hub_reachable", lambda timeout_s=3.0: False)
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")


def _settings(**models_: object) -> Settings:
    return Settings(_env_file=None, models=models_)  # type: ignore[call-arg]


def test_auto_falls_back_to_what_loads_and_says_why(no_hub: None):
    loaded = loading.load_embedders(_settings(device="cpu"))
    assert loaded.profile == "auto→offline"
    assert list(loaded.embedders) == ["text"]
    assert loaded.embedders["text"].model_id == "sentence-transformers/all-MiniLM-L6-v2"
    line = loaded.describe()
    assert "offline" in line and "image" in line and "video" in line and "\n" not in line


def test_explicit_profile_that_cannot_load_names_model_reason_and_setting(no_hub: None):
    with pytest.raises(ModelUnavailableError) as err:
        loading.load_embedders(_settings(profile="cpu", device="cpu"))
    message = str(err.value)
    assert "sentence-transformers/all-MiniLM-L6-v2" in message
    assert "unreachable" in message and "RAG_MODELS__TEXT__NAME" in message


def test_offline_setting_never_asks_the_hub(monkeypatch: pytest.MonkeyPatch):
    def boom(timeout_s: float = 3.0) -> bool:
        raise AssertionError("the hub was contacted")

    monkeypatch.setattr(loading, "_hub_reachable", boom)
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")
    with pytest.raises(ModelUnavailableError, match=r"models\.offline"):
        loading.load_embedders(_settings(profile="cpu", device="cpu", offline=True))


def test_missing_local_directory_is_reported(tmp_path: Path):
    with pytest.raises(ModelUnavailableError, match="no such directory"):
        loading.load_embedders(_settings(profile="offline", text={"name": str(tmp_path / "nope")}, device="cpu"))


def test_broken_model_directory_is_reported_without_traceback_noise(tmp_path: Path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError) as err:
        loading.load_embedders(_settings(profile="offline", text={"name": str(broken)}, device="cpu"))
    assert str(broken) in str(err.value) and "RAG_MODELS__TEXT__NAME" in str(err.value)


def test_shared_model_is_loaded_once(tiny_models: dict[str, Path]):
    calls: list[str] = []

    def loader(path, spec, settings, device):
        calls.append(path)
        return loading._default_loader(path, spec, settings, device)

    path = str(tiny_models["qwen3vl_embedding"])
    loaded = loading.load_embedders(
        _settings(profile="gpu", device="cpu", text={"name": path}, image={"name": path}, video={"name": path}),
        loader=loader,
    )
    assert len(calls) == 1
    assert set(loaded.embedders) == {"text", "image", "video"}


def test_clip_has_no_video_modality_so_video_is_disabled(tiny_models: dict[str, Path]):
    clip = str(tiny_models["clip"])
    loaded = loading.load_embedders(
        _settings(
            profile="cpu",
            device="cpu",
            text={"name": "bundled:all-MiniLM-L6-v2"},
            image={"name": clip},
            video={"name": clip},
        )
    )
    assert set(loaded.embedders) == {"text", "image"}
    assert "no video modality" in loaded.disabled["video"]


def test_text_only_model_for_the_image_vector_is_a_config_error():
    with pytest.raises(ConfigError, match="RAG_MODELS__IMAGE__NAME"):
        loading.load_embedders(_settings(profile="offline", image={"name": "bundled:all-MiniLM-L6-v2"}, device="cpu"))
