"""One loader per media type, all behind the :class:`~ingest.loaders.base.Loader` protocol.

The concrete loaders live in their own modules (``ingest.loaders.text``, ``.image``, ``.pdf``, ``.video``,
``.audio``) and are imported from there, so that using one never imports the dependencies of another.
"""

from __future__ import annotations

from ingest.loaders.base import Loader, LoaderRegistry

__all__ = ["Loader", "LoaderRegistry"]
