"""Small typed records passed between stages.

In-process records that hold decoded media (PIL images) are frozen dataclasses; records that cross a
boundary (CLI JSON, HTTP) are pydantic models that forbid unknown fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

__all__ = [
    "KIND_MODALITY",
    "Anchor",
    "Answer",
    "AnswerOutcome",
    "AudioClip",
    "Citation",
    "FileFailure",
    "Hit",
    "IngestReport",
    "Item",
    "Kind",
    "Modality",
    "Omitted",
    "PayloadIndex",
    "PointPayload",
    "Region",
    "RerankInfo",
    "SearchFilters",
    "Source",
    "Turn",
    "VideoClip",
    "format_timestamp",
]

Modality = Literal["text", "image", "video", "audio"]
# What a stored point is: a text chunk (document text, PDF page text, video subtitles), a standalone image,
# a rendered PDF page, a video clip (sampled frames), a video clip's keyframe, a window of sound (audio vector).
Kind = Literal["text", "image", "page", "clip", "keyframe", "sound"]
KIND_MODALITY: Mapping[str, Modality] = {
    "text": "text",
    "image": "image",
    "page": "image",
    "clip": "video",
    "keyframe": "image",
    "sound": "audio",
}


@dataclass(frozen=True, slots=True)
class AudioClip:
    """Decoded mono samples of one window of sound, float32 in [-1, 1], at ``sample_rate`` (the audio model's)."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True, slots=True)
class Source:
    """One discovered input file. ``source_id`` is stable across runs (the resolved path)."""

    path: Path
    source_id: str
    mime_type: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class VideoClip:
    """Decoded frames of one clip, ``(T, H, W, C)`` uint8, with the rate they were sampled at."""

    frames: np.ndarray
    fps: float


@dataclass(frozen=True, slots=True)
class Item:
    """One unit a loader produced, to be embedded and stored as one point.

    ``locator`` is unique within its source ("chunk-3", "page-2", "page-2/chunk-1", "clip-00004") and,
    with the source id and content hash, determines the point id. ``image_of`` names the item (by locator,
    yielded earlier) whose stored image this one is shown with: a PDF page's text → the page render, a
    video clip or its subtitles → the clip's keyframe.
    """

    kind: Kind
    locator: str
    text: str | None = None
    image: Image.Image | None = None
    video: VideoClip | None = None
    audio: AudioClip | None = None
    page: int | None = None
    char_span: tuple[int, int] | None = None
    start_s: float | None = None
    end_s: float | None = None
    image_of: str | None = None
    title: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def modality(self) -> Modality:
        return KIND_MODALITY[self.kind]


# How the store indexes a payload field that filters name: ``tenant`` is the keyword that partitions the data
# (Qdrant's tenant key), ``flag`` a boolean written ``true`` or not at all.
PayloadIndex = Literal["tenant", "keyword", "integer", "flag"]


def _indexed(index: PayloadIndex) -> dict[str, PayloadIndex]:
    return {"index": index}


@dataclass(frozen=True, slots=True, kw_only=True)
class PointPayload:
    """The payload of one stored point: written by the ingest pipeline, read back into a :class:`Hit`.

    The field names are the stored keys, in the order they are written; ``extra`` holds a loader's own keys
    (image size, a transcript's language and speech model), stored next to them at the top level. Fields whose
    metadata names an index are the ones filters use: every store backend indexes them, by that type
    (:meth:`indexed_fields`). The stored form must stay readable by older code and vice versa, so keys are
    never renamed, and a point written before an optional key existed still reads (:meth:`from_payload`).
    """

    tenant: str = field(metadata=_indexed("tenant"))
    source_id: str = field(metadata=_indexed("keyword"))
    path: str
    name: str = field(metadata=_indexed("keyword"))
    mime_type: str = field(metadata=_indexed("keyword"))
    content_hash: str = field(metadata=_indexed("keyword"))
    kind: Kind = field(metadata=_indexed("keyword"))
    modality: Modality = field(metadata=_indexed("keyword"))
    locator: str
    title: str | None = None
    text: str | None = None
    page: int | None = field(default=None, metadata=_indexed("integer"))
    char_start: int | None = None
    char_end: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    image_ref: str | None = None
    ingested_at: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    # The store's flag (rag.store.UNFINISHED) on the points of a version that no read may see yet: written
    # ``true`` until the version is finalised, then removed (never written ``false``).
    unfinished: bool = field(default=False, metadata=_indexed("flag"))

    def __post_init__(self) -> None:
        clash = sorted(set(self.extra) & _PAYLOAD_KEYS)
        if clash:
            raise ValueError(f"extra payload keys {clash} would overwrite the point's own fields")

    @classmethod
    def indexed_fields(cls) -> dict[str, PayloadIndex]:
        """``{stored key: index type}`` of every field the store indexes, ``tenant`` first."""
        return {f.name: f.metadata["index"] for f in fields(cls) if "index" in f.metadata}

    def to_payload(self) -> dict[str, Any]:
        """The stored form: every field (None included), then the extra keys, then the flag when set."""
        payload: dict[str, Any] = {name: getattr(self, name) for name in _STORED_FIELDS}
        payload.update(self.extra)
        if self.unfinished:
            payload["unfinished"] = True
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> PointPayload:
        """Read a stored payload; ``tenant``, ``source_id``, ``path``, ``kind`` and ``modality`` are required,
        keys a point may lack get their default (an unknown MIME type, the file name of the path, "")."""
        path = payload["path"]
        values: dict[str, Any] = {name: payload[name] for name in _STORED_FIELDS if name in payload}
        values.update(
            tenant=payload["tenant"],
            source_id=payload["source_id"],
            kind=payload["kind"],
            modality=payload["modality"],
            name=payload.get("name") or Path(path).name,
            mime_type=payload.get("mime_type") or "application/octet-stream",
            content_hash=payload.get("content_hash") or "",
            locator=payload.get("locator") or "",
            ingested_at=payload.get("ingested_at") or "",
        )
        extra = {key: value for key, value in payload.items() if key not in _PAYLOAD_KEYS}
        return cls(**values, extra=extra, unfinished=payload.get("unfinished") is True)


# The fields stored under their own name (``extra`` is spread out, the flag written only when set).
_STORED_FIELDS = tuple(f.name for f in fields(PointPayload) if f.name not in ("extra", "unfinished"))
_PAYLOAD_KEYS = frozenset((*_STORED_FIELDS, "unfinished"))


class _Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchFilters(_Boundary):
    """Payload filters for a search. The tenant is always applied (server side)."""

    sources: list[str] | None = Field(default=None, description="Source ids or paths to search in.")
    modalities: list[Modality] | None = None
    kinds: list[Kind] | None = None
    page_from: int | None = Field(default=None, ge=1)
    page_to: int | None = Field(default=None, ge=1)


def format_timestamp(seconds: float) -> str:
    """``83.4`` -> ``"01:23"``; hours appear only when needed (``"1:02:03"``)."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Region(_Boundary):
    """A box on a page, in fractions (0-1) of the page as rendered: top-left origin, page rotation and crop box
    applied, so it fits a render of any size."""

    page: int
    x0: float = Field(ge=0, le=1)
    y0: float = Field(ge=0, le=1)
    x1: float = Field(ge=0, le=1)
    y1: float = Field(ge=0, le=1)


# Where a char range of a hit's text lies (rag.regions): ``(start, end, x0, y0, x1, y1)`` a line's box on the
# page, or ``(start, end, start_s, end_s)`` a subtitle or transcript line's times.
Anchor = tuple[float, ...]


class Hit(_Boundary):
    """One search result with everything later stages need to show and cite it."""

    id: str
    rank: int = Field(description="1-based rank in the fused result.")
    score: float = Field(description="Fused score (RRF or DBSF); comparable only within one result list.")
    modality: Modality
    kind: Kind
    source_id: str
    path: str
    mime_type: str
    title: str | None = None
    page: int | None = None
    char_start: int | None = None
    char_end: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    text: str | None = None
    image_ref: str | None = Field(default=None, description="Stored image, relative to the media directory.")
    tenant: str
    fused_rank: int | None = Field(default=None, description="1-based rank before reranking.")
    rerank_score: float | None = Field(
        default=None, description="Calibrated relevance in 0-1 (sigmoid of the reranker's logit); None if not reranked."
    )
    relevance: float | None = Field(
        default=None,
        description="Calibrated relevance in 0-1, comparable across vectors and modalities (rag.relevance); "
        "None when no dense vector of the hit could be calibrated.",
    )
    scores: dict[str, float] = Field(
        default_factory=dict, description="Raw score per dense named vector (cosine), for debugging."
    )
    regions: list[Region] = Field(
        default_factory=list,
        description="Where the text is on its page (line boxes; narrowed to the cited sentences in an answer), "
        "or the whole page for a page render; empty for text without positions (HTML, Markdown, subtitles).",
    )
    anchors: list[Anchor] = Field(
        default_factory=list, exclude=True, repr=False, description="Stored positions of the text (rag.regions)."
    )
    context_of: str | None = Field(
        default=None,
        description="For a chunk that an extractive answer quotes from next to a retrieved hit: that hit's id "
        "(its rank, score and relevance are that hit's). None for a retrieved hit.",
    )
    locator: str | None = Field(default=None, exclude=True, repr=False, description="Where in its source.")
    content_hash: str | None = Field(
        default=None, exclude=True, repr=False, description="The version of the source the point belongs to."
    )

    @property
    def location(self) -> str:
        """Human-readable citation: ``report.pdf p.3``, ``notes.md chars 120-480``, ``talk.mp4 01:20–01:35``."""
        name = Path(self.path).name
        if self.start_s is not None and self.end_s is not None:
            return f"{name} {format_timestamp(self.start_s)}–{format_timestamp(self.end_s)}"
        if self.page is not None:
            return f"{name} p.{self.page}"
        if self.char_start is not None and self.char_end is not None:
            return f"{name} chars {self.char_start}-{self.char_end}"
        return name


class Citation(_Boundary):
    """A numbered source given to the answer model; ``[number]`` in the answer text refers to it."""

    number: int
    hit: Hit

    @property
    def label(self) -> str:
        return f"[{self.number}] {self.hit.location}"


class RerankInfo(_Boundary):
    model: str | None = None
    applied: bool = False
    scored: int = 0
    candidates: int = 0
    cache_hits: int = 0
    note: str | None = Field(default=None, description="Why reranking was skipped or cut short.")
    milliseconds: float = 0.0


AnswerOutcome = Literal["answered", "extractive", "nothing_relevant"]


class Answer(_Boundary):
    """The result of the answer step: text, numbered sources, and which of them the text cites."""

    question: str
    text: str
    outcome: AnswerOutcome
    sources: list[Citation] = Field(default_factory=list)
    cited: list[int] = Field(default_factory=list, description="Source numbers cited in the text, in order.")
    model: str | None = None
    notes: list[str] = Field(default_factory=list)
    rerank: RerankInfo = Field(default_factory=RerankInfo)

    def citation(self, number: int) -> Citation:
        for source in self.sources:
            if source.number == number:
                return source
        raise KeyError(number)


class Turn(_Boundary):
    """One earlier message of a conversation: what the user asked, or what the assistant answered."""

    role: Literal["user", "assistant"]
    text: str


def readable(text: str) -> str:
    """``text`` as valid Unicode. Python holds a file name that is not UTF-8 with lone surrogates, which
    JSON (and so every report, payload and response) cannot carry: its raw bytes are shown escaped, ``\\xff``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name decodes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class FileFailure(_Boundary):
    path: str
    reason: str
    stage: str = "ingest"

    @field_validator("path", "reason")
    @classmethod
    def _readable(cls, value: str) -> str:
        return readable(value)


class Omitted(BaseModel):
    """Entries a bounded report left out of its ``failed`` or ``skipped`` list, counted by reason."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["failed", "skipped"]
    reason: str
    count: int = 0


# The reason under which a bounded report counts what falls beyond its last reason group.
OTHER_REASONS = "(other reasons)"


class IngestReport(BaseModel):
    """Summary of one ingest run (filled in as the run goes).

    A report made :meth:`bounded` keeps at most that many entries in ``failed`` and in ``skipped`` and counts
    the rest by reason in ``omitted`` (itself at most that many reasons per list): a server's job report stays
    small however many files a folder holds, and the counts stay exact.
    """

    model_config = ConfigDict(extra="forbid")

    files_seen: int = 0
    ingested: int = 0
    unchanged: int = 0
    skipped: list[FileFailure] = Field(default_factory=list, description="Files deliberately not ingested.")
    failed: list[FileFailure] = Field(default_factory=list)
    omitted: list[Omitted] = Field(
        default_factory=list, description="Failed and skipped files beyond the lists' limit, counted by reason."
    )
    points_written: int = 0
    points_deleted: int = 0
    seconds: float = 0.0
    stopped: str | None = Field(default=None, description="Why the run stopped before the end (fail-fast).")
    notes: list[str] = Field(default_factory=list, description="What the run could not do fully, and why.")
    _max_entries: int | None = PrivateAttr(default=None)
    _omitted_at: dict[tuple[str, str], int] = PrivateAttr(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed_total(self) -> int:
        return len(self.failed) + sum(o.count for o in self.omitted if o.outcome == "failed")

    @property
    def skipped_total(self) -> int:
        return len(self.skipped) + sum(o.count for o in self.omitted if o.outcome == "skipped")

    def bounded(self, max_entries: int) -> IngestReport:
        """Keep at most ``max_entries`` (at least 1) entries per list from now on; returns the report."""
        self._max_entries = max(1, max_entries)
        return self

    def add_failed(self, entry: FileFailure) -> None:
        self._add(self.failed, "failed", entry)

    def add_skipped(self, entry: FileFailure) -> None:
        self._add(self.skipped, "skipped", entry)

    def _add(self, entries: list[FileFailure], outcome: Literal["failed", "skipped"], entry: FileFailure) -> None:
        limit = self._max_entries
        if limit is None or len(entries) < limit:
            entries.append(entry)
            return
        key = (outcome, entry.reason)
        if key not in self._omitted_at:
            groups = sum(o.outcome == outcome for o in self.omitted)
            key = key if groups < limit - 1 else (outcome, OTHER_REASONS)
            if key not in self._omitted_at:
                self._omitted_at[key] = len(self.omitted)
                self.omitted.append(Omitted(outcome=outcome, reason=key[1]))
        self.omitted[self._omitted_at[key]].count += 1
