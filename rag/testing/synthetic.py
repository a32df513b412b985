"""Synthetic text points for the benchmarks: the payload a real text chunk gets, through :class:`PointPayload`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["INGESTED_AT", "TENANT", "text_points"]

TENANT = "bench"
INGESTED_AT = "2026-01-01T00:00:00+00:00"  # one fixed time: the points are synthetic


def text_points(
    texts: Sequence[str], vectors: Sequence[Any], sparse: Any, *, first: int = 0, per_source: int = 4
) -> list[Any]:
    """Text points numbered from ``first``, ``per_source`` chunks to a made-up source file, each with its dense
    ``text`` vector and the ``sparse`` encoder's terms of its text."""
    from rag.records import PointPayload
    from rag.store import PointRecord, point_id

    records = []
    encoded = sparse.encode_documents(list(texts))
    for number, (text, vec, terms) in enumerate(zip(texts, vectors, encoded, strict=True), start=first):
        source = f"/bench/doc-{number // per_source:06d}.txt"
        locator = f"chunk-{number % per_source}"
        payload = PointPayload(
            tenant=TENANT,
            source_id=source,
            path=source,
            name=Path(source).name,
            mime_type="text/plain",
            content_hash="0" * 64,
            kind="text",
            modality="text",
            locator=locator,
            text=text,
            char_start=0,
            char_end=len(text),
            ingested_at=INGESTED_AT,
        ).to_payload()
        records.append(
            PointRecord(point_id(TENANT, source, "0" * 64, locator), {"text": vec, "sparse": terms}, payload)
        )
    return records
