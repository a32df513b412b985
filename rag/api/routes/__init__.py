"""Route modules, each a few lines per route over :class:`rag.RAG` (see ``rag/api/__init__``)."""
