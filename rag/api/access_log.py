"""One log line per request (logger ``rag.access``): method, route, status, duration and tenant.

The route is the template (``/v1/media/{ref}``), never the path as sent with its query string: signed links
carry their signature there, and a client may put anything in it. Headers (and so API keys) and bodies (and
so questions) are never logged.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

log = logging.getLogger("rag.access")

_MAX_PATH = 100


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes before any response is a 500 (the error middleware sends it)

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            log.info(
                "%s %s %d %.1fms tenant=%s",
                scope["method"],
                _route(scope),
                status,
                (time.perf_counter() - started) * 1000,
                (scope.get("state") or {}).get("tenant", "-"),
            )


def _route(scope: Scope) -> str:
    """The matched route's template; for an unmatched request its path (cut, controls escaped), no query."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    path = str(scope.get("path", ""))
    shown = path[:_MAX_PATH].encode("ascii", "backslashreplace").decode()
    return shown if len(path) <= _MAX_PATH else f"{shown}..."
