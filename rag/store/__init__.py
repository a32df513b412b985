"""The vector store role (see :mod:`rag.store.qdrant`)."""

from rag.store.qdrant import *  # noqa: F403
from rag.store.qdrant import __all__  # noqa: F401
