"""Stored images (PDF page renders, images, video keyframes) that hits and answers reference.

A request is allowed with the tenant's API key, or with a signed link (``exp`` and ``sig``) as found in
answers, which chat clients can show without the key. Either way the image must belong to the tenant: the
reference is parsed once (:class:`rag.media.MediaRef`, which refuses dot segments, empty parts and anything
the store never writes), the tenant is checked on the parsed reference, and the file it names is resolved
inside that tenant's folder. Every refusal that concerns an image looks the same (404 ``no such image``),
so a caller learns nothing about other tenants' files.

``hl`` (and ``crop``) draw regions on the image (:mod:`rag.highlight`): a signed link's signature covers them
(a changed or forged region set, or one moved to another image, is refused like a bad signature); with the
API key, any well-formed region set may be drawn on the tenant's own images.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from rag.api.deps import MaybeCallerDep, ServicesDep
from rag.api.errors import ApiError
from rag.highlight import InvalidHighlightError, draw, parse_regions
from rag.media import InvalidMediaRefError, MediaRef

router = APIRouter(prefix="/v1/media", tags=["media"])

_THUMB_SIDE = 256
_CACHE = {"Cache-Control": "private, max-age=3600"}


@router.get(
    "/{ref:path}",
    summary="A stored image or its thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def media(
    ref: str,
    services: ServicesDep,
    caller: MaybeCallerDep,
    size: Annotated[Literal["full", "thumb"], Query()] = "full",
    hl: Annotated[str | None, Query(description="Regions to draw: x0,y0,x1,y1;... (fractions of the image).")] = None,
    crop: Annotated[bool, Query(description="Cut the image around the regions (with hl).")] = False,
    exp: Annotated[str | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    try:
        boxes = parse_regions(hl) if hl is not None else None
    except InvalidHighlightError as exc:
        raise ApiError(400, exc.message, code="bad_highlight") from exc
    try:
        parsed: MediaRef | None = MediaRef.parse(ref)
    except InvalidMediaRefError:
        parsed = None
    signed = str(parsed) if hl is None else services.links.highlighted(str(parsed), hl, crop)
    if parsed is None or not services.links.verify(signed, exp, sig):
        if caller is None:
            message = "this image link is invalid or has expired" if exp or sig else "missing API key or signed link"
            raise ApiError(401, message, code="unauthorized", headers={"WWW-Authenticate": "Bearer"})
        if parsed is None or caller.tenant != parsed.tenant:
            raise _not_found()
    try:
        path = services.rag.media_file(parsed)
    except InvalidMediaRefError as exc:
        raise _not_found() from exc
    if not path.is_file():
        raise _not_found()
    if boxes is not None:
        return Response(
            _highlighted(path, boxes, crop=crop, thumb=size == "thumb"), media_type="image/jpeg", headers=_CACHE
        )
    if size == "full":
        return FileResponse(path, media_type="image/jpeg", headers=_CACHE)
    return Response(_thumbnail(path), media_type="image/jpeg", headers=_CACHE)


def _not_found() -> ApiError:
    return ApiError(404, "no such image", code="image_not_found")


def _thumbnail(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path) as image:
        image.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=80)
    return out.getvalue()


def _highlighted(path: Path, boxes: list[tuple[float, float, float, float]], *, crop: bool, thumb: bool) -> bytes:
    from PIL import Image

    with Image.open(path) as image:
        shown = draw(image, boxes, crop=crop)
    if thumb:
        shown.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
    out = io.BytesIO()
    shown.save(out, format="JPEG", quality=85)
    return out.getvalue()
