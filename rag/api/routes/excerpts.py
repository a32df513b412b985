"""The page behind a citation in a chat answer: the excerpt, where it is from, and its image.

Chat clients show each numbered source of an answer as a link (Open WebUI's source chips). The link is signed
(:meth:`rag.api.links.LinkSigner.excerpt_url`) and carries the excerpt, so it opens without the API key and
without a lookup, until it expires. The text comes from documents: it is escaped, and the page may load
nothing but images (and the cited sound, for recordings and videos) from this server.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from rag.api.deps import ServicesDep
from rag.api.errors import ApiError

router = APIRouter(prefix="/v1/excerpts", tags=["media"])

_HEADERS = {
    "Cache-Control": "private, max-age=3600",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}"
    "p{white-space:pre-wrap}img{max-width:100%}"
)


@router.get("/{token}", summary="A cited excerpt, by its signed link", response_class=HTMLResponse)
def excerpt(
    token: str,
    services: ServicesDep,
    exp: Annotated[str | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    shown = services.links.read_excerpt(token, exp, sig)
    if shown is None:
        raise ApiError(401, "this excerpt link is invalid or has expired", code="unauthorized")
    location = escape(shown.get("location", ""))
    parts = [
        f'<!doctype html><html><head><meta charset="utf-8"><title>{location}</title><style>{_STYLE}</style></head>',
        f"<body><h1>{location}</h1>",
    ]
    if shown.get("text"):
        parts.append(f"<p>{escape(shown['text'])}</p>")
    if shown.get("audio_url"):
        parts.append(f'<p><audio controls preload="none" src="{escape(shown["audio_url"])}"></audio></p>')
    if shown.get("image_url"):
        parts.append(f'<img src="{escape(shown["image_url"])}" alt="{location}">')
    parts.append("</body></html>")
    return HTMLResponse("".join(parts), headers=_HEADERS)
