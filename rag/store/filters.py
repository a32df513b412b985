"""Payload conditions as plain data, built once here and translated by each backend.

Which points a read, a delete or a finalisation touches is decided in this module only, so that the backends
cannot disagree about it; a backend only maps these four shapes onto its own filter types. Every payload
field named here is declared indexed on :class:`~rag.records.PointPayload`, and each backend indexes those
fields by their type, so that filtered deletes and the "only finished versions" reads do not scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from rag.store.records import SOURCE_KIND, UNFINISHED, StoreFilter

__all__ = [
    "Condition",
    "Flagged",
    "Match",
    "Range",
    "Where",
    "finished_points",
    "flagged",
    "for_filter",
    "of_tenant",
    "of_version",
    "stale_versions",
]


@dataclass(frozen=True, slots=True)
class Match:
    """The payload value at ``key`` is one of ``values``."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Range:
    """The integer payload value at ``key`` lies in ``[gte, lte]`` (an open end when None)."""

    key: str
    gte: int | None = None
    lte: int | None = None


@dataclass(frozen=True, slots=True)
class Flagged:
    """The boolean flag at ``key`` is set (the store writes it ``true`` or not at all)."""

    key: str


@dataclass(frozen=True, slots=True)
class Where:
    """All of ``must``, at least one of ``should`` (when given), none of ``must_not``."""

    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()


Condition: TypeAlias = Match | Range | Flagged | Where


def _is(key: str, value: str) -> Match:
    return Match(key, (value,))


def for_filter(flt: StoreFilter) -> Where:
    """A :class:`StoreFilter`: the tenant always; sources match by id or by file name."""
    must: list[Condition] = [_is("tenant", flt.tenant)]
    if flt.sources:
        must.append(Where(should=(Match("source_id", flt.sources), Match("name", flt.sources))))
    if flt.modalities:
        must.append(Match("modality", flt.modalities))
    if flt.kinds:
        must.append(Match("kind", flt.kinds))
    if flt.page_from is not None or flt.page_to is not None:
        must.append(Range("page", flt.page_from, flt.page_to))
    return Where(must=tuple(must), must_not=() if flt.include_unfinished else (Flagged(UNFINISHED),))


def of_version(tenant: str, source_id: str, content_hash: str) -> Where:
    """The points of one content version of a source (flagged or not), never its record."""
    return Where(
        must=(_is("tenant", tenant), _is("source_id", source_id), _is("content_hash", content_hash)),
        must_not=(_is("kind", SOURCE_KIND),),
    )


def stale_versions(tenant: str, keep: Mapping[str, str]) -> Where:
    """The points of these sources (``{source_id: keep_hash}``) from other versions than ``keep_hash``."""
    stale = tuple(
        Where(must=(_is("source_id", source_id),), must_not=(_is("content_hash", keep_hash),))
        for source_id, keep_hash in keep.items()
    )
    return Where(must=(_is("tenant", tenant),), should=stale, must_not=(_is("kind", SOURCE_KIND),))


def finished_points(tenant: str | None) -> Where:
    """Points of finished versions (of ``tenant``, or of all tenants), source records excluded."""
    return Where(
        must=(_is("tenant", tenant),) if tenant else (),
        must_not=(_is("kind", SOURCE_KIND), Flagged(UNFINISHED)),
    )


def flagged(tenant: str | None) -> Where:
    """Points flagged unfinished (of ``tenant``, or of all tenants)."""
    return Where(must=((_is("tenant", tenant),) if tenant else ()) + (Flagged(UNFINISHED),))


def of_tenant(tenant: str | None) -> Where | None:
    """Every point of ``tenant`` (None: every point)."""
    return Where(must=(_is("tenant", tenant),)) if tenant else None
