"""The point payload: one typed record for what ingest writes, retrieval reads and the store indexes."""

from __future__ import annotations

import pytest

from rag.records import PointPayload
from rag.retriever import to_hit
from rag.store import UNFINISHED, StoredHit, StoreFilter
from rag.store import filters as f


def _speech_chunk(**overrides: object) -> PointPayload:
    values: dict[str, object] = {
        "tenant": "acme",
        "source_id": "/d/talk.mp4",
        "path": "/d/talk.mp4",
        "name": "talk.mp4",
        "mime_type": "video/mp4",
        "content_hash": "abc",
        "kind": "text",
        "modality": "text",
        "locator": "speech-00000/chunk-0",
        "title": "talk",
        "text": "hello",
        "start_s": 1.5,
        "end_s": 3.0,
        "image_ref": "acme/ab/keyframe.jpg",
        "ingested_at": "2024-01-01T00:00:00+00:00",
        "extra": {"language": "en", "speech_model": "whisper-tiny"},
        "unfinished": True,
    }
    return PointPayload(**{**values, **overrides})  # type: ignore[arg-type]


def test_the_stored_form_keeps_its_keys_values_and_order() -> None:
    """Existing stores hold this form: the same keys, None values included, extras then the flag last."""
    stored = _speech_chunk().to_payload()
    assert list(stored.items()) == [
        ("tenant", "acme"),
        ("source_id", "/d/talk.mp4"),
        ("path", "/d/talk.mp4"),
        ("name", "talk.mp4"),
        ("mime_type", "video/mp4"),
        ("content_hash", "abc"),
        ("kind", "text"),
        ("modality", "text"),
        ("locator", "speech-00000/chunk-0"),
        ("title", "talk"),
        ("text", "hello"),
        ("page", None),
        ("char_start", None),
        ("char_end", None),
        ("start_s", 1.5),
        ("end_s", 3.0),
        ("image_ref", "acme/ab/keyframe.jpg"),
        ("ingested_at", "2024-01-01T00:00:00+00:00"),
        ("language", "en"),
        ("speech_model", "whisper-tiny"),
        ("unfinished", True),
    ]
    # The flag is written true or not at all (Qdrant Edge matches "set", never false).
    assert UNFINISHED not in _speech_chunk(unfinished=False).to_payload()


def test_a_stored_payload_reads_back_with_its_extra_keys_and_flag() -> None:
    payload = _speech_chunk()
    assert PointPayload.from_payload(payload.to_payload()) == payload
    published = {k: v for k, v in payload.to_payload().items() if k != UNFINISHED}
    read = PointPayload.from_payload(published)
    assert read.unfinished is False and read.extra == {"language": "en", "speech_model": "whisper-tiny"}


def test_a_point_missing_optional_keys_still_reads_into_a_hit() -> None:
    older = {"tenant": "acme", "source_id": "/d/a.md", "path": "/d/a.md", "kind": "text", "modality": "text"}
    hit = to_hit(StoredHit(id="p1", score=0.5, payload={**older, "text": "hi"}), rank=1)
    assert (hit.mime_type, hit.text, hit.page, hit.tenant) == ("application/octet-stream", "hi", None, "acme")
    assert PointPayload.from_payload(older).name == "a.md"
    with pytest.raises(KeyError, match="modality"):
        PointPayload.from_payload({k: v for k, v in older.items() if k != "modality"})


def test_extra_keys_cannot_overwrite_the_points_own_fields() -> None:
    with pytest.raises(ValueError, match="kind"):
        _speech_chunk(extra={"kind": "image"})


def _keys(condition: f.Condition) -> set[str]:
    if isinstance(condition, f.Where):
        return {key for part in (*condition.must, *condition.should, *condition.must_not) for key in _keys(part)}
    return {condition.key}


def test_every_field_a_filter_names_is_declared_indexed_with_its_type() -> None:
    everything = StoreFilter(
        tenant="acme", sources=("a",), modalities=("text",), kinds=("text",), page_from=1, page_to=2
    )
    named = set().union(
        *(
            _keys(where)
            for where in (
                f.for_filter(everything),
                f.of_version("acme", "a", "h"),
                f.stale_versions("acme", {"a": "h"}),
                f.finished_points("acme"),
                f.flagged("acme"),
            )
        )
    )
    indexed = PointPayload.indexed_fields()
    assert named <= set(indexed)
    assert next(iter(indexed)) == "tenant" and indexed["tenant"] == "tenant"
    assert indexed["page"] == "integer" and indexed[UNFINISHED] == "flag"
    assert {indexed[key] for key in named - {"tenant", "page", UNFINISHED}} == {"keyword"}
