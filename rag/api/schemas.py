"""Request and response bodies of the REST routes (the OpenAI-compatible ones are in ``routes/openai``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from rag.api.jobs import JobView
from rag.records import AnswerOutcome, Kind, Modality, Region, RerankInfo

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
    "Text",
]

_MAX_PAGE = 2**31 - 1


def _unicode(value: str) -> str:
    """JSON may escape lone surrogates (``"\\ud800"``), which are no text: no model, store or reply takes them."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return value


def _server_path(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a path cannot contain a NUL character")
    return value


Text = Annotated[str, AfterValidator(_unicode)]
"""A string field of a request body: any text, but valid Unicode."""


class _In(BaseModel):
    # Strict: a field takes its own JSON type only ("10" is no limit, "yes" no boolean).
    model_config = ConfigDict(extra="forbid", strict=True)


class FiltersIn(_In):
    sources: list[Text] | None = Field(
        default=None, max_length=100, description="Source ids (from GET /v1/sources) or their paths."
    )
    modalities: list[Modality] | None = None
    kinds: list[Kind] | None = None
    page_from: int | None = Field(default=None, ge=1, le=_MAX_PAGE)
    page_to: int | None = Field(default=None, ge=1, le=_MAX_PAGE)

    @model_validator(mode="after")
    def _pages_in_order(self) -> FiltersIn:
        if self.page_from is not None and self.page_to is not None and self.page_from > self.page_to:
            raise ValueError("page_from is after page_to")
        return self


class SearchIn(_In):
    query: Text = Field(default="", description="The text query; may be empty when an image or audio is given.")
    image: Text | None = Field(
        default=None, description="An image to search with, as a data URL (data:image/png;base64,...)."
    )
    audio: Text | None = Field(
        default=None,
        description="A recording to search with, as a data URL (data:audio/wav;base64,...); its first window is "
        "searched against the audio vector (needs RAG_MODELS__AUDIO__NAME).",
    )
    limit: int = Field(default=10, ge=1, le=100)
    rerank: bool = Field(default=False, description="Rerank the fused hits (when a reranker is loaded).")
    filters: FiltersIn | None = None


class TurnIn(_In):
    role: Literal["user", "assistant"]
    content: Text


class AnswerIn(_In):
    question: Text = Field(default="", description="The question; may be empty when an image is given.")
    image: Text | None = Field(default=None, description="An image the question is about, as a data URL.")
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
    paths: list[Annotated[Text, AfterValidator(_server_path)]] = Field(
        min_length=1, description="Files, folders or globs under the allowed roots."
    )


class HitOut(BaseModel):
    id: str
    rank: int
    score: float
    rerank_score: float | None = None
    relevance: float | None = Field(
        default=None, description="Calibrated relevance 0-1, comparable across vectors and modalities."
    )
    scores: dict[str, float] = Field(default_factory=dict, description="Raw cosine per dense named vector.")
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
    audio_url: str | None = Field(
        default=None, description="Signed link to the sound of the cited time range (audio and video sources)."
    )
    regions: list[Region] = Field(
        default_factory=list,
        description="Where the text is on the page render, in fractions of it (top-left origin): line boxes, "
        "narrowed to the sentences an answer cites; the whole page for a page render; empty when the text has "
        "no positions (HTML, Markdown, plain text, subtitles).",
    )
    highlight_url: str | None = Field(
        default=None, description="Signed link to the page render with the regions drawn on it (when it has some)."
    )
    crop_url: str | None = Field(default=None, description="The same, cut around the regions with a margin.")


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
    # How searches run now ("exact search (N points)", or an HNSW index on a server); only when the store is up.
    search: str | None = None
