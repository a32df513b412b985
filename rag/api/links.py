"""Signed links to stored images, so that a chat client can show them without sending the API key.

A link names the image reference, an expiry time and an HMAC-SHA256 of both under the server's signing key.
The reference starts with the tenant, so a link opens that tenant's image only, until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from urllib.parse import quote, urlencode

__all__ = ["LinkSigner"]


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
