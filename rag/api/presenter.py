"""Conversions between the library's records and what the API shows: display paths, source ids, image links."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from rag.api.errors import ApiError, brief
from rag.api.schemas import AnswerOut, CitationOut, FiltersIn, HitOut, SourceOut
from rag.embedder import audio_format_of
from rag.errors import RetrievalError, SourceLoadError
from rag.highlight import encode_regions
from rag.records import Answer, AudioClip, Hit, SearchFilters
from rag.store import SourceRecord, source_point_id

if TYPE_CHECKING:
    from PIL import Image

    from rag.api.deps import Services

__all__ = ["Presenter"]

_EXCERPT_CHARS = 2000
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=_\-\s]")
_DATA_URL = re.compile(r"^data:(image/[\w.+-]+)?(;[\w=.+-]+)*;base64,(.*)$", re.S)
_AUDIO_DATA_URL = re.compile(r"^data:(?:audio|video)/[\w.+-]+(?:;[\w=.+-]+)*;base64,(.*)$", re.S)


class Presenter:
    """Shows one tenant's records to API callers (paths relative to its uploads, signed image links) and reads
    their inputs (query images, filters): everything a route needs between the library and the wire."""

    def __init__(self, services: Services, tenant: str, base_url: str) -> None:
        self.services = services
        self.tenant = tenant
        self.base_url = services.settings.api.public_url or base_url
        self.uploads = (services.settings.upload_dir / tenant).resolve()

    # -- paths and ids ---------------------------------------------------------------------------

    def display(self, path: str) -> str:
        """Uploaded files show as the path they were uploaded as; server-side files as their own path."""
        candidate = Path(path)
        if candidate.is_relative_to(self.uploads):
            return candidate.relative_to(self.uploads).as_posix()
        return path

    def uploaded_file(self, path: str) -> Path | None:
        """The kept upload behind a source path, when the source was uploaded by this tenant."""
        candidate = Path(path)
        return candidate if candidate.is_relative_to(self.uploads) else None

    def source_id(self, source_id: str) -> str:
        return source_point_id(self.tenant, source_id)

    def source(self, record: SourceRecord) -> SourceOut:
        return SourceOut(
            id=self.source_id(record.source_id),
            name=record.name,
            path=self.display(record.path),
            mime_type=record.mime_type,
            points=record.points,
            content_hash=record.content_hash,
            ingested_at=record.ingested_at,
        )

    def find_source(self, key: str) -> SourceRecord | None:
        """A source of this tenant by API id, display path or file name."""
        for record in self.services.rag.sources(tenant=self.tenant):
            if key in (self.source_id(record.source_id), self.display(record.path)):
                return record
        return None

    def filters(self, given: FiltersIn | None) -> SearchFilters | None:
        if given is None:
            return None
        sources: list[str] | None = None
        if given.sources:
            sources = []
            for key in given.sources:
                record = self.find_source(key)
                if record is None:
                    raise ApiError(404, f"no source {brief(key)}", code="source_not_found")
                sources.append(record.source_id)
        return SearchFilters(
            sources=sources,
            modalities=given.modalities,
            kinds=given.kinds,
            page_from=given.page_from,
            page_to=given.page_to,
        )

    # -- hits and answers ------------------------------------------------------------------------

    def image_url(self, ref: str | None, size: str | None = None) -> str | None:
        return self.services.links.url(self.base_url, ref, size=size) if ref else None

    def hit(self, hit: Hit) -> HitOut:
        return HitOut(
            id=hit.id,
            rank=hit.rank,
            score=hit.score,
            rerank_score=hit.rerank_score,
            relevance=hit.relevance,
            scores=hit.scores,
            fused_rank=hit.fused_rank,
            modality=hit.modality,
            kind=hit.kind,
            source=self.source_id(hit.source_id),
            name=Path(hit.path).name,
            path=self.display(hit.path),
            mime_type=hit.mime_type,
            title=hit.title,
            location=hit.location,
            page=hit.page,
            char_start=hit.char_start,
            char_end=hit.char_end,
            start_s=hit.start_s,
            end_s=hit.end_s,
            text=hit.text,
            image_url=self.image_url(hit.image_ref),
            thumbnail_url=self.image_url(hit.image_ref, "thumb"),
            audio_url=self.snippet_url(hit),
            regions=hit.regions,
            highlight_url=self.highlight_url(hit, crop=False),
            crop_url=self.highlight_url(hit, crop=True),
        )

    def snippet_url(self, hit: Hit) -> str | None:
        """The sound of the hit's time range, for hits from audio files and videos."""
        if hit.start_s is None or hit.end_s is None or not hit.mime_type.startswith(("audio/", "video/")):
            return None
        return self.services.links.snippet_url(self.base_url, hit.tenant, hit.id)

    def highlight_url(self, hit: Hit, *, crop: bool) -> str | None:
        """A signed link to the hit's page render with its regions drawn (None for a whole page: nothing to show)."""
        if hit.image_ref is None or hit.kind == "page" or not hit.regions:
            return None
        return self.services.links.highlight_url(self.base_url, hit.image_ref, encode_regions(hit.regions), crop=crop)

    def excerpt_url(self, hit: HitOut) -> str:
        """A signed link to a page showing this hit (its own URL per hit: chat clients merge citations that share
        one); the text is capped so that the link stays short enough for any client."""
        text = hit.text or ""
        excerpt = {
            "id": hit.id,
            "location": hit.location,
            "text": text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS].rstrip() + " […]",
            "image_url": hit.highlight_url or hit.image_url,
            "audio_url": hit.audio_url,
        }
        return self.services.links.excerpt_url(self.base_url, excerpt)

    def answer(self, answer: Answer) -> AnswerOut:
        cited = set(answer.cited)
        return AnswerOut(
            question=answer.question,
            text=answer.text,
            outcome=answer.outcome,
            model=answer.model,
            cited=answer.cited,
            sources=[
                CitationOut(number=c.number, cited=c.number in cited, hit=self.hit(c.hit)) for c in answer.sources
            ],
            notes=answer.notes,
            rerank=answer.rerank,
        )

    # -- inputs ----------------------------------------------------------------------------------

    def query_text(self, text: str, *, image: bool) -> str:
        limit = self.services.settings.api.max_query_chars
        if len(text) > limit:
            raise ApiError(413, f"the query is {len(text)} characters; the limit is {limit}", code="query_too_long")
        if not text.strip() and not image:
            raise ApiError(400, "the query is empty (give text, an image, or both)", code="empty_query")
        return text

    def query_image(self, data_url: str | None) -> Image.Image | None:
        return decode_image(data_url, self.services) if data_url else None

    def query_audio(self, data_url: str | None) -> AudioClip | None:
        """A query recording sent as a data URL: its first window at the audio model's rate (400 without an audio
        vector or for what is not audio)."""
        if not data_url:
            return None
        if audio_format_of(self.services.rag.models.embedders.get("audio")) is None:
            raise ApiError(
                400,
                "no audio vector: searching by a recording needs an audio model (RAG_MODELS__AUDIO__NAME)",
                code="audio_query_unsupported",
            )
        match = _AUDIO_DATA_URL.match(data_url.strip())
        if match is None:
            raise ApiError(
                400, "audio must be sent inline as a base64 data URL (data:audio/...;base64,...)", code="bad_audio"
            )
        try:
            data = base64.b64decode(match.group(1), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(400, f"the audio is not valid base64: {exc}", code="bad_audio") from exc
        try:
            return self.services.rag.audio_query(data)
        except RetrievalError as exc:
            raise ApiError(400, exc.message, code="bad_audio") from exc

    def can_search_images(self) -> bool:
        return can_search_images(self.services)

    def check_image(self, data_url: str) -> None:
        """Refuse (400) what is no inline base64 image, without decoding it: for an image that is not searched
        (no image model) but must still be a valid request."""
        payload = _data_url_payload(data_url)
        if not payload.strip() or _NOT_BASE64.search(payload):
            raise ApiError(400, "the image is not valid base64", code="bad_image")


def can_search_images(services: Services) -> bool:
    """Whether a loaded embedding model encodes images (else an image query cannot be searched)."""
    return any("image" in embedder.modalities for embedder in services.rag.models.embedders.values())


def decode_image(data_url: str, services: Services) -> Image.Image:
    """A query image sent as a data URL, decoded with the ingest caps. Remote URLs are never fetched.

    What can be refused cheaply is refused first: no image model (before the base64 is decoded), then an image
    over the query pixel cap (from its header, before its pixels are decoded).
    """
    from ingest.imaging import fit_pixels, open_image

    payload = _data_url_payload(data_url)
    if not can_search_images(services):
        raise ApiError(400, "no loaded model can encode an image query", code="image_query_unsupported")
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, f"the image is not valid base64: {exc}", code="bad_image") from exc
    limit = services.settings.api.max_query_image_pixels
    size = _header_size(data)
    if size is not None and size[0] * size[1] > limit:
        width, height = size
        raise ApiError(
            413,
            f"the query image is {width}x{height} = {width * height} pixels; the limit is {limit} "
            "(RAG_API__MAX_QUERY_IMAGE_PIXELS)",
            code="image_too_large",
        )
    images = services.settings.images
    try:
        image = open_image(io.BytesIO(data), max_source_pixels=images.max_source_pixels, source="query image")
    except SourceLoadError as exc:
        raise ApiError(400, f"query image: {exc.message}", code="bad_image") from exc
    return fit_pixels(image, images.max_pixels)


def _data_url_payload(data_url: str) -> str:
    match = _DATA_URL.match(data_url.strip())
    if match is None:
        raise ApiError(
            400, "images must be sent inline as base64 data URLs (data:image/...;base64,...)", code="bad_image"
        )
    return match.group(3)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image header alone (``Image.open`` decodes no pixel); None when it cannot be
    read, and ``open_image`` then says why."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the caps are checked here
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except (Image.DecompressionBombError, UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None
