"""Session-wide fixtures: tiny offline models (built once), clean environment, settings factories."""

from __future__ import annotations

import itertools
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# One intra-op thread for torch (read when torch loads, which is after this). The tests run models from several
# threads at once (ingest stages, the API's workers, queries) on a 2-core machine; with teams of two OpenMP
# threads, a MiniLM encode of three chunks took 1-2 s instead of 0.15 s whenever the other core was busy.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.config import BUNDLED_MINILM, Settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's RAG_* variables or ./.env."""
    for key in list(os.environ):
        if key.startswith("RAG_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def tiny_models(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny offline models, built once and kept in pytest's cache (``.pytest_cache``) under a key of their
    builder's source and library versions: every xdist worker and later run reuses them (2-3 s of CPU each)."""
    from rag.testing.tiny_models import build_all_cached

    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider: share within the run only
    folder = cache.mkdir("tiny-models") if cache is not None else tmp_path_factory.getbasetemp().parent / "tiny-models"
    return build_all_cached(folder)


def _models_env(kind: str, tiny: dict[str, Path]) -> dict[str, Any]:
    if kind == "qwen":  # like the gpu profile: one Qwen3-VL model behind text, image and video
        path = str(tiny["qwen3vl_embedding"])
        return {"profile": "gpu", "text": {"name": path}, "image": {"name": path}, "video": {"name": path}}
    if kind == "clip":  # like the cpu profile: MiniLM for text, CLIP for images
        return {"profile": "cpu", "text": {"name": BUNDLED_MINILM}, "image": {"name": str(tiny["clip"])}}
    if kind == "minilm":  # the offline profile
        return {"profile": "offline"}
    if kind == "clap":  # the offline profile plus an audio vector (CLAP, like the gpu profile's)
        return {"profile": "offline", "audio": {"name": str(tiny["clap"])}}
    raise ValueError(kind)


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, tiny_models: dict[str, Path]) -> SettingsFactory:
    def factory(kind: str = "clip", **overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "models": _models_env(kind, tiny_models)}
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return factory


@pytest.fixture(scope="session")
def loaded_models(tiny_models: dict[str, Path]) -> Callable[[str], Any]:
    """Load each model set once per session; tests share the loaded embedders."""
    from rag.loading import load_embedders

    cache: dict[str, Any] = {}

    def get(kind: str) -> Any:
        if kind not in cache:
            settings = Settings(_env_file=None, models=_models_env(kind, tiny_models))  # type: ignore[call-arg]
            cache[kind] = load_embedders(settings)
        return cache[kind]

    return get


@pytest.fixture
def make_rag(make_settings: SettingsFactory, loaded_models: Callable[[str], Any]) -> Iterator[Callable[..., Any]]:
    from rag.engine import RAG

    opened: list[RAG] = []

    def factory(
        kind: str = "clip", *, reranker: Any = None, generator: Any = None, speech: Any = None, **overrides: Any
    ) -> RAG:
        settings = make_settings(kind, **overrides)
        rag = RAG(settings, models=loaded_models(kind), reranker=reranker, generator=generator, speech=speech)
        rag.warm_up()
        opened.append(rag)
        return rag

    yield factory
    for rag in opened:
        rag.close()


@pytest.fixture(scope="session")
def ingested_examples(
    tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path], loaded_models: Callable[[str], Any]
) -> Callable[[str, tuple[str, ...]], Path]:
    """A data directory with folders of ``examples/`` ingested, built once per (model set, folders) a session.

    Read it through :func:`make_ingested_rag`, which copies it: tests that only ask questions of the example corpus
    then cost a copy (milliseconds) instead of an ingest (a second or more)."""
    from rag.engine import RAG

    built: dict[tuple[str, tuple[str, ...]], Path] = {}

    def get(kind: str, folders: tuple[str, ...]) -> Path:
        key = (kind, folders)
        if key not in built:
            data = tmp_path_factory.mktemp("ingested") / "data"
            settings = Settings(_env_file=None, data_dir=data, models=_models_env(kind, tiny_models))  # type: ignore[call-arg]
            rag = RAG(settings, models=loaded_models(kind), reranker=None, generator=None, speech=None)
            try:
                rag.warm_up()
                report = rag.ingest([EXAMPLES / folder for folder in folders], progress=False)
            finally:
                rag.close()
            assert report.ok and report.ingested, report
            built[key] = data
        return built[key]

    return get


@pytest.fixture
def make_ingested_rag(
    make_rag: Callable[..., Any], ingested_examples: Callable[[str, tuple[str, ...]], Path], tmp_path: Path
) -> Callable[..., Any]:
    """Like ``make_rag``, over a fresh copy of a data directory where ``folders`` of ``examples/`` are ingested."""
    from rag.store.edge_index import copy_tree

    copies = itertools.count()

    def factory(kind: str, folders: tuple[str, ...], **overrides: Any) -> Any:
        data = tmp_path / f"ingested-{next(copies)}"
        copy_tree(
            ingested_examples(kind, folders), data
        )  # keeps Edge's sparse files sparse: a plain copy writes 200 MB
        return make_rag(kind, data_dir=data, **overrides)

    return factory
