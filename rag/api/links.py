"""Signed links to stored images and to excerpts, so that a chat client can show them without the API key.

A link names the image reference, an expiry time and an HMAC-SHA256 of both under the server's signing key.
The reference starts with the tenant, so a link opens that tenant's image only, until it expires.

An excerpt link (a chat answer's citation, :meth:`LinkSigner.excerpt_url`) carries the excerpt itself (its
location, text and image link, compressed) in a token signed the same way under its own prefix, so that the
server needs no lookup to show it and each numbered source of an answer has a URL of its own.

A highlight link (:meth:`LinkSigner.highlight_url`) shows a page render with regions drawn on it: the signature
covers the reference, the region set and the crop flag together, so neither can be changed, nor the region
set moved to another image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlencode

__all__ = ["LinkSigner"]

_EXCERPT = "excerpt:"  # signed excerpt tokens cannot pass for an image reference, nor the other way round
_MAX_EXCERPT_BYTES = 64 * 1024
_SNIPPET = "snippet:"  # nor a snippet link for either


class LinkSigner:
    def __init__(self, key: bytes | None, *, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._key = key or secrets.token_bytes(32)
        self.ttl_s = ttl_s
        self._clock = clock

    def _mac(self, ref: str, expires: int) -> str:
        return hmac.new(self._key, f"{ref}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def query(self, ref: str) -> dict[str, str]:
        expires = int(self._clock()) + self.ttl_s
        return {"exp": str(expires), "sig": self._mac(ref, expires)}

    def verify(self, ref: str, expires: str | None, signature: str | None) -> bool:
        if not expires or not signature or not expires.isdigit():
            return False
        if int(expires) < self._clock():
            return False
        return hmac.compare_digest(self._mac(ref, int(expires)), signature)

    def url(self, base: str, ref: str, *, size: str | None = None) -> str:
        """Absolute (when ``base`` is) signed URL of the image behind ``ref``."""
        params = self.query(ref)
        if size:
            params["size"] = size
        return f"{base.rstrip('/')}/v1/media/{quote(ref)}?{urlencode(params)}"

    def snippet_url(self, base: str, tenant: str, point_id: str) -> str:
        """Absolute (when ``base`` is) signed URL of the sound of a cited time range (one point of ``tenant``)."""
        params = self.query(f"{_SNIPPET}{tenant}/{point_id}")
        return f"{base.rstrip('/')}/v1/snippets/{quote(tenant)}/{quote(point_id)}?{urlencode(params)}"

    def verify_snippet(self, tenant: str, point_id: str, expires: str | None, signature: str | None) -> bool:
        return self.verify(f"{_SNIPPET}{tenant}/{point_id}", expires, signature)

    @staticmethod
    def highlighted(ref: str, regions: str, crop: bool) -> str:
        """What a highlight link signs in place of the bare reference (which no plain image link signs)."""
        return f"{ref}\nhighlight={regions}\ncrop={int(crop)}"

    def highlight_url(self, base: str, ref: str, regions: str, *, crop: bool) -> str:
        """Absolute (when ``base`` is) signed URL of the image behind ``ref`` with ``regions`` (an ``hl``
        parameter, :func:`rag.highlight.encode_regions`) drawn on it, cut around them when ``crop``."""
        params = {
            "hl": regions,
            **({"crop": "true"} if crop else {}),
            **self.query(self.highlighted(ref, regions, crop)),
        }
        return f"{base.rstrip('/')}/v1/media/{quote(ref)}?{urlencode(params)}"

    def excerpt_url(self, base: str, excerpt: Mapping[str, str | None]) -> str:
        """Absolute (when ``base`` is) signed URL of a page that shows ``excerpt`` (string fields)."""
        raw = json.dumps(excerpt, ensure_ascii=False, separators=(",", ":")).encode()
        token = base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")
        return f"{base.rstrip('/')}/v1/excerpts/{token}?{urlencode(self.query(_EXCERPT + token))}"

    def read_excerpt(self, token: str, expires: str | None, signature: str | None) -> dict[str, str] | None:
        """The excerpt behind a signed token; None when the signature is wrong or expired, or the token unreadable."""
        if not self.verify(_EXCERPT + token, expires, signature):
            return None
        try:
            packed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            inflate = zlib.decompressobj()
            raw = inflate.decompress(packed, _MAX_EXCERPT_BYTES)
            excerpt = json.loads(raw) if not inflate.unconsumed_tail else None
        except (binascii.Error, zlib.error, ValueError):
            return None
        if not isinstance(excerpt, dict):
            return None
        return {str(k): v for k, v in excerpt.items() if isinstance(v, str)}
