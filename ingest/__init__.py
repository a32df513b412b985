"""Ingest side: find input files, load them into typed items, chunk text.

Modules: :mod:`ingest.discover` (files, directories, globs -> sources), :mod:`ingest.chunking` (token-bounded
text chunks), :mod:`ingest.imaging` (safe image opening and resizing) and :mod:`ingest.loaders` (one loader per
media type behind the :class:`~ingest.loaders.base.Loader` protocol).
"""

from __future__ import annotations

from ingest.chunking import Chunker, TextChunk
from ingest.discover import SUBTITLE_SUFFIXES, SUPPORTED_TYPES, discover

__all__ = ["SUBTITLE_SUFFIXES", "SUPPORTED_TYPES", "Chunker", "TextChunk", "discover"]
