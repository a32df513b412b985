"""One typed ``Settings`` object, read from ``RAG_*`` environment variables (nested with ``__``) and an
optional ``.env`` file. It is built once at the edge (CLI, API, your service) and passed in; nothing
deeper in the code reads the environment. ``.env.example`` mirrors every field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "PROFILES",
    "RERANK_PROFILES",
    "SPEECH_PROFILES",
    "VECTOR_NAMES",
    "ApiSettings",
    "AudioSettings",
    "ChunkingSettings",
    "Fusion",
    "GenerationSettings",
    "ImageSettings",
    "ModelSpec",
    "ModelsSettings",
    "PdfSettings",
    "Profile",
    "QdrantSettings",
    "RerankSettings",
    "RetrievalSettings",
    "Settings",
    "VideoSettings",
    "validate_tenant",
]

Profile = Literal["gpu", "cpu", "offline"]
VECTOR_NAMES: tuple[str, ...] = ("text", "image", "video", "audio")
BUNDLED_MINILM = "bundled:all-MiniLM-L6-v2"
DISABLED = "none"

# The models behind each named vector, per profile. A vector missing from a profile is disabled there.
PROFILES: dict[Profile, dict[str, str]] = {
    "gpu": {
        "text": "Qwen/Qwen3-VL-Embedding-2B",
        "image": "Qwen/Qwen3-VL-Embedding-2B",
        "video": "Qwen/Qwen3-VL-Embedding-2B",
        # Sounds (applause, music, an alarm) as well as speech: ClapModel's text and audio towers, loaded by
        # sentence-transformers (checked with a tiny random ClapModel in the tests). Optional: when it is not
        # downloaded, the profile loads without the audio vector (see rag.loading).
        "audio": "laion/clap-htsat-unfused",
    },
    "cpu": {
        "text": "sentence-transformers/all-MiniLM-L6-v2",
        "image": "sentence-transformers/clip-ViT-B-32",
    },
    "offline": {"text": BUNDLED_MINILM},
}

_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "changethis", "secret", "xxx", "your-api-key"}


def validate_tenant(tenant: str) -> str:
    if not _TENANT_RE.fullmatch(tenant):
        raise ValueError(f"invalid tenant {tenant!r}: use 1-64 letters, digits, '_', '.', '-'")
    return tenant


def _refuse_placeholder(value: SecretStr | None, setting: str) -> SecretStr | None:
    if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
        raise ValueError(f"{setting} is a placeholder; set the real key or leave it empty")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Section):
    """A model: a hub id, a local directory, or ``bundled:all-MiniLM-L6-v2``; ``none`` disables the vector."""

    name: str
    revision: str | None = Field(default=None, description="Pinned hub revision (commit, tag or branch).")

    @property
    def disabled(self) -> bool:
        return self.name.strip().lower() == DISABLED


class QdrantSettings(_Section):
    path: Path | None = Field(default=None, description="Embedded store directory; default DATA_DIR/qdrant.")
    url: str | None = Field(default=None, description="Qdrant server URL; when set, the embedded store is not used.")
    api_key: SecretStr | None = None
    collection: str = "rag"
    timeout_s: int = Field(default=30, ge=1, description="Server only: a request to Qdrant fails after this.")
    reconnect_max_s: float = Field(
        default=30.0, gt=0, description="Server only: longest wait between attempts to reach an unreachable Qdrant."
    )
    prefer_grpc: bool = False
    shard_number: int | None = Field(default=None, ge=1, description="Server only: shards of a new collection.")
    replication_factor: int | None = Field(default=None, ge=1, description="Server only: replicas per shard.")
    embedded: Literal["edge", "local"] = Field(
        default="edge",
        description="Embedded engine when no URL is set: edge (Qdrant Edge, Qdrant's engine in-process) or local "
        "(qdrant-client's local mode: slow past ~20k points; stores written before Qdrant Edge).",
    )
    exact_below: int = Field(
        default=20_000,
        ge=0,
        description="Searches are exact (every matching point scored) while the store holds at most this many "
        "points; above, HNSW where one is built.",
    )
    hnsw_m: int = Field(default=16, ge=4, description="HNSW edges per node of a new index (or new server collection).")
    hnsw_ef_construct: int = Field(
        default=100, ge=4, description="HNSW candidates per insertion while an index (or server collection) is built."
    )
    hnsw_ef: int = Field(
        default=128, ge=1, description="HNSW candidates per search, embedded store and server (recall against speed)."
    )
    upsert_batch_size: int = Field(default=256, ge=1)
    recover_after_s: int = Field(
        default=6 * 3600,
        ge=0,
        description="Server only: an unfinished version (a killed ingest's leftovers, never read) older than this "
        "is removed when an ingest starts; younger ones may still be written by another worker. The embedded "
        "store removes them all when it is opened.",
    )

    _no_placeholder = field_validator("api_key")(
        classmethod(lambda cls, v: _refuse_placeholder(v, "RAG_QDRANT__API_KEY"))
    )


class ModelsSettings(_Section):
    profile: Literal["auto", "gpu", "cpu", "offline"] = "auto"
    text: ModelSpec | None = Field(default=None, description="Overrides the profile's text model.")
    image: ModelSpec | None = Field(default=None, description="Overrides the profile's image model.")
    video: ModelSpec | None = Field(default=None, description="Overrides the profile's video model.")
    audio: ModelSpec | None = Field(
        default=None,
        description="Audio vector: a sentence-transformers model with text and audio modalities (CLAP); none disables.",
    )
    speech: ModelSpec | None = Field(
        default=None, description="Speech recogniser (Whisper or CTC) for audio and soundtracks; none disables."
    )
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:N or mps.")
    batch_size: int = Field(default=16, ge=1)
    trust_remote_code: bool = False
    cache_dir: Path | None = None
    offline: bool = Field(default=False, description="Never contact the model hub; use local or cached files only.")

    def override(self, vector: str) -> ModelSpec | None:
        spec: ModelSpec | None = getattr(self, vector)
        return spec


class ChunkingSettings(_Section):
    tokens: int = Field(default=256, ge=16, description="Chunk size in the text model's tokens (capped by the model).")
    overlap: int = Field(default=32, ge=0, description="Overlap between neighbouring chunks, in tokens.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSettings:
        if self.overlap >= self.tokens // 2:
            raise ValueError("chunking.overlap must be less than half of chunking.tokens")
        return self


class ImageSettings(_Section):
    max_pixels: int = Field(
        default=1280 * 28 * 28, ge=32 * 32, description="Images are downscaled to this for embedding."
    )
    max_source_pixels: int = Field(
        default=89_478_485, ge=1, description="Images larger than this are refused (decompression bombs)."
    )
    store_max_side: int = Field(default=1024, ge=64, description="Longest side of the stored image/page render.")


class PdfSettings(_Section):
    render_dpi: int = Field(default=110, ge=36, le=600)
    max_pages: int = Field(default=2000, ge=1, description="PDFs with more pages are refused.")


class VideoSettings(_Section):
    split: Literal["fixed", "scenes"] = Field(
        default="fixed", description="fixed windows with overlap, or cut at scene changes (long scenes split)."
    )
    clip_s: float = Field(default=15.0, gt=0, description="Clip length in seconds.")
    overlap_s: float = Field(default=3.0, ge=0, description="Overlap of neighbouring fixed clips, in seconds.")
    frames_per_clip: int = Field(default=8, ge=1, le=64, description="Frames sampled per clip for the video vector.")
    max_frame_pixels: int = Field(default=448 * 448, ge=32 * 32, description="Sampled frames are downscaled to this.")
    scene_threshold: float = Field(default=0.2, gt=0, le=1, description="Picture change (0-1) that cuts a scene.")
    max_duration_s: float = Field(default=6 * 3600, gt=0, description="Longer videos are refused.")
    transcribe: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Transcribe the soundtrack: auto (when there is no subtitle sidecar), always (both), never.",
    )

    @model_validator(mode="after")
    def _overlap_below_length(self) -> VideoSettings:
        if self.overlap_s >= self.clip_s:
            raise ValueError("video.overlap_s must be less than video.clip_s")
        return self


# The speech recogniser of each profile (audio files, soundtracks of videos without subtitles).
SPEECH_PROFILES: dict[Profile, str | None] = {
    "gpu": "openai/whisper-large-v3-turbo",
    "cpu": "openai/whisper-base",
    "offline": None,
}


class AudioSettings(_Section):
    language: str | None = Field(
        default=None, description="Language spoken (en, de, ...) for every recording; empty: detected per file."
    )
    max_duration_s: float = Field(default=6 * 3600, gt=0, description="Longer audio files are refused.")
    passage_s: float = Field(
        default=30.0, gt=0, description="Transcript segments are grouped into passages of about this many seconds."
    )

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        value = (value or "").strip().lower()
        if value and not re.fullmatch(r"[a-z]{2,3}(?:[-_][a-z]+)?", value):
            raise ValueError(f"audio.language must be a language code such as en or de, not {value!r}")
        return value or None


# How the named vectors' hits are fused: by rank (RRF), by normalised score (DBSF), or by calibrated relevance
# (rag.fusion). DBSF is the default: on SciFact (BEIR, MiniLM + BM25) it scored nDCG@10 0.733 on the train claims
# and 0.733 on the test ones, against 0.718 / 0.709 calibrated and 0.708 / 0.704 RRF (benchmarks/results/
# relevance_scifact.md); on the 24-query sample set calibrated leads it by 0.013, within that set's noise.
Fusion = Literal["rrf", "dbsf", "calibrated"]


class RetrievalSettings(_Section):
    fusion: Fusion = "dbsf"
    relevance_threshold: float = Field(
        # The gate on rag.relevance's scale; its edge (MARGIN) was chosen with this threshold, on SciFact's train
        # claims and the sample set (benchmarks/results/relevance_scifact.md).
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Without a reranker: calibrated relevance (rag.relevance) under which a hit is not answered from.",
    )
    rrf_k: int = Field(default=60, ge=1, description="RRF constant k (Qdrant's own default is 2).")
    prefetch_limit: int = Field(default=50, ge=1, description="Candidates fetched per named vector before fusion.")
    limit: int = Field(default=10, ge=1, le=1000)
    sparse: bool = Field(
        default=True,
        description="BM25 sparse vector for text (hybrid search); changing it needs `rag ingest --recreate`.",
    )


RERANK_PROFILES: dict[Profile, str | None] = {
    "gpu": "Qwen/Qwen3-VL-Reranker-2B",
    "cpu": None,
    "offline": None,
}


class RerankSettings(_Section):
    model: ModelSpec | None = Field(
        default=None,
        description="CrossEncoder reranker (hub id or local dir); none disables; default from the profile.",
    )
    candidates: int = Field(default=30, ge=1, le=500, description="Fused hits given to the reranker.")
    top_k: int = Field(default=5, ge=1, le=100, description="Hits kept after reranking.")
    batch_size: int = Field(default=8, ge=1)
    budget_ms: int = Field(
        default=15_000, ge=0, description="Latency budget; candidates not scored in time keep their fused order."
    )
    threshold: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Calibrated score under which a hit counts as not relevant."
    )
    cache_size: int = Field(default=4096, ge=0, description="Cached (query, item) rerank scores.")


class GenerationSettings(_Section):
    model: str | None = Field(
        default=None, description="litellm model string, e.g. openai/gpt-4o-mini; empty = extractive answers."
    )
    api_base: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10, description="Retries of transient errors (429, 5xx, timeouts).")
    retry_max_wait_s: float = Field(default=20.0, ge=0)
    temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1)
    context_hits: int = Field(default=5, ge=1, le=50, description="Top hits sent to the model as sources.")
    max_source_chars: int = Field(default=4000, ge=100, description="Text of one source is cut to this.")
    image_max_side: int = Field(default=1024, ge=64, description="Images are resized to this longest side.")
    max_images: int = Field(default=5, ge=0, description="Images attached to one request.")
    history_turns: int = Field(
        default=6, ge=0, le=50, description="Earlier chat messages given to the model with a follow-up; 0: none."
    )
    history_turn_chars: int = Field(default=2000, ge=100, description="Each earlier message is cut to this.")

    _no_placeholder = field_validator("api_key")(
        classmethod(lambda cls, v: _refuse_placeholder(v, "RAG_GENERATION__API_KEY"))
    )


_MIN_KEY_CHARS = 16


class ApiSettings(_Section):
    host: str = Field(default="127.0.0.1", description="Bind address of `rag serve`; loopback only without keys.")
    port: int = Field(default=8000, ge=1, le=65535)
    keys: dict[str, str] = Field(
        default_factory=dict,
        description='API keys and the tenant of each, as JSON: {"<key>": "<tenant>"}. Empty: no auth, loopback only.',
    )
    model_name: str = Field(default="rag", min_length=1, description="Model id shown on /v1/models.")
    public_url: str | None = Field(
        default=None, description="Base URL for image links in chat answers; default: the request's own."
    )
    sources_markdown: bool = Field(
        default=True,
        description="Chat answers end with a Markdown list of their sources and images (besides the annotations).",
    )
    allowed_roots: list[Path] = Field(
        default_factory=list, description="Server-side folders that POST /v1/ingest/paths may read; empty: none."
    )
    max_walk_files: int = Field(default=100_000, ge=1, description="Files and folders one paths job may look at.")
    max_walk_s: float = Field(default=600.0, gt=0, description="Seconds one paths job may spend finding its files.")
    max_report_entries: int = Field(
        default=100, ge=1, description="Failed and skipped files a paths job lists each; the rest are counted."
    )
    upload_dir: Path | None = Field(default=None, description="Uploaded files are kept here; default DATA_DIR/uploads.")
    max_upload_mb: float = Field(default=100.0, gt=0, description="Largest uploaded file.")
    max_request_mb: float = Field(default=512.0, gt=0, description="Largest upload request (all files together).")
    max_body_mb: float = Field(default=16.0, gt=0, description="Largest JSON request (query images included).")
    max_files: int = Field(default=100, ge=1, description="Files per upload request.")
    max_query_chars: int = Field(default=4000, ge=1, description="Longest question or search query.")
    max_query_image_pixels: int = Field(
        default=50_000_000, ge=1, description="Larger query images are refused from their header, before decoding."
    )
    ingest_workers: int = Field(default=1, ge=1, le=16, description="Ingest jobs run at the same time.")
    max_jobs: int = Field(default=1000, ge=1, description="Jobs remembered (queued, running and finished).")
    signing_key: SecretStr | None = Field(
        default=None, description="Signs image links in answers; default: random per start (links die on restart)."
    )
    link_ttl_s: int = Field(default=24 * 3600, ge=60, description="How long a signed image link stays valid.")
    cors_origins: list[str] = Field(default_factory=list, description="Browser origins allowed to call the API.")
    access_log: bool = Field(
        default=True, description="Log a line per request: method, route, status, duration, tenant (no key, no query)."
    )

    @field_validator("keys")
    @classmethod
    def _valid_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        for key, tenant in keys.items():
            if key.strip().lower() in _PLACEHOLDER_SECRETS or len(key) < _MIN_KEY_CHARS:
                raise ValueError(
                    f"API key for tenant {tenant!r} is a placeholder or shorter than {_MIN_KEY_CHARS} characters "
                    "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
            validate_tenant(tenant)
        return keys

    _no_placeholder = field_validator("signing_key")(
        classmethod(lambda cls, v: _refuse_placeholder(v, "RAG_API__SIGNING_KEY"))
    )


class Settings(BaseSettings):
    """Everything configurable. Environment: ``RAG_<FIELD>``, nested ``RAG_<SECTION>__<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
    )

    data_dir: Path = Field(default=Path(".rag"), description="Embedded store, stored images and jobs live here.")
    tenant: Annotated[str, Field(description="Tenant used by the CLI and library when none is given.")] = "default"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    pdf: PdfSettings = Field(default_factory=PdfSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    audio: AudioSettings = Field(default_factory=AudioSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    _validate_tenant = field_validator("tenant")(classmethod(lambda cls, v: validate_tenant(v)))

    @property
    def qdrant_path(self) -> Path:
        return self.qdrant.path if self.qdrant.path is not None else self.data_dir / "qdrant"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def upload_dir(self) -> Path:
        return self.api.upload_dir if self.api.upload_dir is not None else self.data_dir / "uploads"

    @property
    def jobs_db(self) -> Path:
        return self.data_dir / "jobs.sqlite3"
