"""The sound of a cited time range: ``meeting.m4a 12:04–12:31`` as a short Ogg/Opus file, by a signed link.

Hits and answers from audio files and videos carry ``audio_url``; chat clients reach it from the excerpt page of
a source. The link names a point (tenant and point id, signed like image links; the tenant's API key works
too), and the range is that point's ``start_s``/``end_s`` read from the stored payload, never from the request,
so a link cannot be turned into a reader of other ranges or files. At most :data:`MAX_SNIPPET_S` seconds are
decoded (torchcodec, mono, 24 kHz) and encoded (Opus, 48 kbit/s: about 6 kB a second). The recording is read
from where it was ingested; a file changed since gives its sound now. Every refusal looks the same (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from rag.api.deps import MaybeCallerDep, ServicesDep
from rag.api.errors import ApiError

router = APIRouter(prefix="/v1/snippets", tags=["media"])

MAX_SNIPPET_S = 120.0
_RATE = 24_000
_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}


@router.get(
    "/{tenant}/{point_id}",
    summary="The sound of a cited time range (Ogg/Opus)",
    response_class=Response,
    responses={200: {"content": {"audio/ogg": {}}}},
)
def snippet(
    tenant: str,
    point_id: str,
    services: ServicesDep,
    caller: MaybeCallerDep,
    exp: Annotated[str | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    if not services.links.verify_snippet(tenant, point_id, exp, sig):
        if caller is None:
            message = "this snippet link is invalid or has expired" if exp or sig else "missing API key or signed link"
            raise ApiError(401, message, code="unauthorized", headers={"WWW-Authenticate": "Bearer"})
        if caller.tenant != tenant:
            raise _not_found()
    point = services.rag.point(point_id, tenant=tenant)
    if point is None or point.start_s is None or point.end_s is None:
        raise _not_found()
    if not point.mime_type.startswith(("audio/", "video/")):
        raise _not_found()
    start, end = point.start_s, point.end_s
    data = _encode(point.path, start, min(end, start + MAX_SNIPPET_S))
    if data is None:
        raise _not_found()
    return Response(data, media_type="audio/ogg", headers=_HEADERS)


def _encode(path: str, start: float, end: float) -> bytes | None:
    """Opus in Ogg of ``path`` from ``start`` to ``end`` (seconds from the start of its audio); None when the file
    is gone or has no readable sound there."""
    from torchcodec.decoders import AudioDecoder
    from torchcodec.encoders import AudioEncoder

    try:
        decoder = AudioDecoder(path, sample_rate=_RATE, num_channels=1)
        begin = float(decoder.metadata.begin_stream_seconds or 0.0)
        samples = decoder.get_samples_played_in_range(begin + start, begin + max(end, start + 0.05))
    except (RuntimeError, ValueError, OSError):
        return None
    if samples.data.shape[-1] == 0:
        return None
    encoded = AudioEncoder(samples.data, sample_rate=_RATE).to_tensor("opus", bit_rate=48_000)
    return bytes(encoded.numpy().tobytes())


def _not_found() -> ApiError:
    return ApiError(404, "no such snippet", code="snippet_not_found")
