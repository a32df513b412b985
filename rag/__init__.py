"""Multimodal RAG: ingest documents, images, PDFs, videos and audio into Qdrant named vectors; fused retrieval.

Importing the package is cheap: models load in :meth:`RAG.warm_up`, never at import.
"""

from rag.config import Settings
from rag.engine import RAG
from rag.errors import (
    ConfigError,
    GenerationError,
    IngestError,
    ModelUnavailableError,
    RagError,
    RetrievalError,
    SchemaMismatchError,
    SourceLoadError,
    StoreError,
    UnsupportedSourceError,
)
from rag.records import FileFailure, Hit, IngestReport, SearchFilters, Turn

__all__ = [
    "RAG",
    "ConfigError",
    "FileFailure",
    "GenerationError",
    "Hit",
    "IngestError",
    "IngestReport",
    "ModelUnavailableError",
    "RagError",
    "RetrievalError",
    "SchemaMismatchError",
    "SearchFilters",
    "Settings",
    "SourceLoadError",
    "StoreError",
    "Turn",
    "UnsupportedSourceError",
]

__version__ = "0.1.0"
