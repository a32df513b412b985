"""Copy a whole store into another one: embedded to a Qdrant server and back, or an older engine's store into
Qdrant Edge (``rag migrate``).

Store to store, through the :class:`~rag.store.protocol.Store` protocol only, so any pair of backends works:
the schema first, then every point as it is (vectors, payload, source records, versions not yet finished
and their flag), page by page, never the whole store in memory. Point ids are deterministic and upserts
replace, so a copy that stopped (killed, a server gone away) is finished by running it again: points the
target already holds with the same payload are skipped (same id, same payload: the same content, hence the
same vectors). At the end the target must hold exactly the source's points (same ids, same counts), or the
copy fails. Until then an embedded target is marked, and other runs refuse to open it half-filled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from rag.errors import StoreError
from rag.store.protocol import Store
from rag.store.records import PointRecord

__all__ = ["MigrationReport", "migrate"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MigrationReport:
    source: str
    target: str
    points: int  # every point of the source, source records and unfinished versions included
    written: int
    skipped: int  # already in the target with the same payload (a resumed copy)
    searchable: int  # points of finished versions, as ``count()`` gives them (the same on both sides)
    seconds: float


def migrate(
    source: Store,
    target: Store,
    *,
    resume: str,
    page: int = 512,
    on_page: Callable[[int], None] | None = None,
) -> MigrationReport:
    """Copy every point of ``source`` into ``target`` and check that the target holds exactly the same.

    ``resume``: the command that runs this copy again (the marker of an unfinished embedded target names it).
    ``on_page(n)``: called after each page with the number of points it held (a progress bar).
    Raises :class:`StoreError` when the source has no collection, the target's schema differs (its
    :class:`~rag.errors.SchemaMismatchError`), or the counts do not match at the end.
    """
    if source.location == target.location and source.collection == target.collection:
        raise StoreError(f"the source and the target are the same store ({source.location})")
    started = time.perf_counter()
    schema = source.collection_schema()
    if schema is None:
        raise StoreError(f"there is no collection {source.collection!r} at {source.location} to copy")
    target.begin_import(resume)
    target.ensure_collection(schema)
    resuming = target.total() > 0
    written = skipped = 0
    ids: set[str] = set()
    for batch in _pages(source.points(vectors=True), page):
        ids.update(p.id for p in batch)
        todo = _missing(target, batch) if resuming else list(batch)
        if todo:
            target.upsert(todo)
        written += len(todo)
        skipped += len(batch) - len(todo)
        if on_page is not None:
            on_page(len(batch))
    _check(source, target, ids)
    target.end_import()
    report = MigrationReport(
        source=source.location,
        target=target.location,
        points=len(ids),
        written=written,
        skipped=skipped,
        searchable=target.count(),
        seconds=round(time.perf_counter() - started, 2),
    )
    log.info("copied %s", report)
    return report


def _pages(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _missing(target: Store, batch: Sequence[PointRecord]) -> list[PointRecord]:
    """The points of ``batch`` that the target lacks or holds with another payload."""
    held = {p.id: p.payload for p in target.retrieve([p.id for p in batch])}
    return [p for p in batch if held.get(p.id) != p.payload]


def _check(source: Store, target: Store, ids: set[str]) -> None:
    """The target holds exactly the points copied: every id, nothing else, the same searchable count."""
    held = {p.id for p in target.points(vectors=False)}
    missing, extra = len(ids - held), len(held - ids)
    if missing or extra:
        raise StoreError(
            f"the copy at {target.location} does not match {source.location}: {missing} point(s) missing, "
            f"{extra} not in the source (was the source written during the copy, or the target not empty?)"
        )
    want, have = source.count(), target.count()
    if want != have:
        raise StoreError(f"the copy at {target.location} has {have} searchable points, {source.location} has {want}")
