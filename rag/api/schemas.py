"""Request and response bodies of the REST routes (the OpenAI-compatible ones are in ``routes/openai``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.api.jobs import JobView
from rag.records import AnswerOutcome, Kind, Modality, RerankInfo

__all__ = [
    "AnswerIn",
    "AnswerOut",
    "CitationOut",
    "FiltersIn",
    "HitOut",
    "JobAccepted",
    "PathsIn",
    "SearchIn",
    "SearchOut",
    "SourceOut",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FiltersIn(_In):
    sources: list[str] | None = Field(
        default=None, max_length=100, description="Source ids (from GET /v1/sources) or their paths."
    )
    modalities: list[Modality] | None = None
    kinds: list[Kind] | None = None
    page_from: int | None = Field(default=None, ge=1)
    page_to: int | None = Field(default=None, ge=1)


class SearchIn(_In):
    query: str = Field(default="", description="The text query; may be empty when an image is given.")
    image: str | None = Field(
        default=None, description="An image to search with, as a data URL (data:image/png;base64,...)."
    )
    limit: int = Field(default=10, ge=1, le=100)
    rerank: bool = Field(default=False, description="Rerank the fused hits (when a reranker is loaded).")
    filters: FiltersIn | None = None


class TurnIn(_In):
    role: Literal["user", "assistant"]
    content: str


class AnswerIn(_In):
    question: str = Field(default="", description="The question; may be empty when an image is given.")
    image: str | None = Field(default=None, description="An image the question is about, as a data URL.")
    filters: FiltersIn | None = None
    history: list[TurnIn] = Field(
        default_factory=list,
        max_length=200,
        description="Earlier turns of the conversation, oldest first, so that a follow-up question is understood.",
    )
    stream: bool = Field(
        default=False,
        description="Stream as server-sent events: `delta` events with text, then one `answer` event.",
    )


class PathsIn(_In):
    paths: list[str] = Field(min_length=1, description="Files, folders or globs under the allowed roots.")


class HitOut(BaseModel):
    id: str
    rank: int
    score: float
    rerank_score: float | None = None
    fused_rank: int | None = None
    modality: Modality
    kind: Kind
    source: str = Field(description="Source id, as in GET /v1/sources.")
    name: str
    path: str = Field(description="Uploaded files: the path they were uploaded as.")
    mime_type: str
    title: str | None = None
    location: str = Field(description="Human-readable citation: file and page, characters or time range.")
    page: int | None = None
    char_start: int | None = None
    char_end: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    text: str | None = None
    image_url: str | None = Field(default=None, description="Signed link to the stored image (page, keyframe).")
    thumbnail_url: str | None = None


class SearchOut(BaseModel):
    hits: list[HitOut]
    rerank: RerankInfo | None = None
    notes: list[str] = Field(default_factory=list)


class CitationOut(BaseModel):
    number: int
    cited: bool = Field(description="Whether the answer text cites this source.")
    hit: HitOut


class AnswerOut(BaseModel):
    question: str
    text: str
    outcome: AnswerOutcome
    model: str | None = None
    cited: list[int]
    sources: list[CitationOut]
    notes: list[str] = Field(default_factory=list)
    rerank: RerankInfo


class SourceOut(BaseModel):
    id: str
    name: str
    path: str
    mime_type: str
    points: int
    content_hash: str
    ingested_at: str


class JobAccepted(BaseModel):
    job: JobView
    status_url: str


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]
