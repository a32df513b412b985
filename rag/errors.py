"""The project's exception tree.

Every error the library raises on purpose derives from :class:`RagError`; third-party exceptions are
translated at the boundary with ``raise ... from exc`` so that callers handle one tree::

    RagError
    ├── ConfigError                 settings that cannot work (bad value, missing model, wrong profile)
    │   └── ModelUnavailableError   a configured model cannot be loaded (which model, why, which setting)
    ├── IngestError                 one source failed to load (file + reason); the run goes on
    │   ├── UnsupportedSourceError  unknown file type, empty file, binary file with a text extension
    │   └── SourceLoadError         corrupt, truncated, encrypted, too large, ...
    ├── StoreError                  the vector store failed or refused
    │   ├── StoreUnavailableError   the store cannot be reached (refused, timed out): transient, retry later
    │   └── SchemaMismatchError     the collection was built with other models or dimensions
    ├── RetrievalError              a query could not be run
    ├── EvalError                   an evaluation dataset cannot be read (which file, what is wrong)
    ├── BusyError                   a limit on work in flight is reached (too many jobs): try again later
    └── GenerationError             the answer step failed (later stages)

Each error carries the failing ``stage`` and, where there is one, the ``source`` it is about.
"""

from __future__ import annotations

__all__ = [
    "BusyError",
    "ConfigError",
    "EvalError",
    "GenerationError",
    "IngestError",
    "ModelUnavailableError",
    "RagError",
    "RetrievalError",
    "SchemaMismatchError",
    "SourceLoadError",
    "StoreError",
    "StoreUnavailableError",
    "UnsupportedSourceError",
]


class RagError(Exception):
    """Base class of every error this project raises on purpose."""

    stage: str = "rag"

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


class ConfigError(RagError):
    stage = "config"


class ModelUnavailableError(ConfigError):
    """A model cannot be loaded: says which one, why, and which setting selects it."""

    stage = "models"

    def __init__(self, model: str, reason: str, *, setting: str) -> None:
        super().__init__(f"model {model!r} cannot be loaded: {reason} (change it with {setting})")
        self.model = model
        self.reason = reason
        self.setting = setting


class IngestError(RagError):
    stage = "ingest"


class UnsupportedSourceError(IngestError):
    pass


class SourceLoadError(IngestError):
    pass


class StoreError(RagError):
    stage = "store"


class StoreUnavailableError(StoreError):
    """The store cannot be reached (connection refused or reset, timed out): retrying later may succeed.

    ``reason`` is the cause alone (no address), for messages shown to API clients.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SchemaMismatchError(StoreError):
    pass


class RetrievalError(RagError):
    stage = "retrieval"


class EvalError(RagError):
    stage = "eval"


class BusyError(RagError):
    stage = "busy"


class GenerationError(RagError):
    stage = "generation"
