"""Helpers shared by tests in different folders."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["env_names"]


def env_names(model: type[BaseModel], prefix: str = "RAG_") -> set[str]:
    """Every environment variable that sets a field of ``model`` (nested settings joined by ``__``)."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        inner = [
            a
            for a in getattr(annotation, "__args__", (annotation,))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if inner:
            names |= env_names(inner[0], f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names
