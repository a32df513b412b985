"""Tenant isolation, as a property: whatever tenants upload, each one sees, searches and deletes only its own."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.rag.api.support import upload

TENANTS = ["t-a", "t-b", "t-c", "t-d"]
KEYS = {f"key-{t}-{'0' * 20}": t for t in TENANTS}
HEADERS = {t: {"Authorization": f"Bearer key-{t}-{'0' * 20}"} for t in TENANTS}
WORDS = ["battery", "warranty", "panel", "inverter", "roof", "cable", "sunlight", "meter", "grid", "storage"]

documents = st.lists(
    st.tuples(st.sampled_from(TENANTS), st.lists(st.sampled_from(WORDS), min_size=3, max_size=12)),
    min_size=1,
    max_size=6,
)


@pytest.mark.slow
def test_tenants_never_see_or_touch_each_others_data(make_client: Any) -> None:
    client = make_client("clip", keys=KEYS)
    owned: dict[str, set[str]] = {t: set() for t in TENANTS}  # across examples: the store is shared

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(docs=documents, searcher=st.sampled_from(TENANTS))
    def check(docs: list[tuple[str, list[str]]], searcher: str) -> None:
        marker = uuid.uuid4().hex[:8]
        for tenant, words in docs:
            name = f"{marker}-{tenant}-{len(owned[tenant])}.md"
            body = f"# {marker}\n\n{tenant} {' '.join(words)} {marker}\n".encode()
            assert upload(client, HEADERS[tenant], {name: body})["status"] == "succeeded"
            owned[tenant].add(name)

        for tenant in TENANTS:
            listed = client.get("/v1/sources", headers=HEADERS[tenant]).json()
            assert {s["path"] for s in listed} == owned[tenant]
            hits = client.post("/v1/search", headers=HEADERS[tenant], json={"query": marker, "limit": 50}).json()
            assert {h["path"] for h in hits["hits"]} <= owned[tenant]
            answer = client.post("/v1/answer", headers=HEADERS[tenant], json={"question": f"{marker} battery"}).json()
            assert {s["hit"]["path"] for s in answer["sources"]} <= owned[tenant]
            for job in client.get("/v1/jobs", headers=HEADERS[tenant]).json():
                for other in TENANTS:
                    if other != tenant:
                        assert client.get(f"/v1/jobs/{job['id']}", headers=HEADERS[other]).status_code == 404

        # Deleting another tenant's source, by id or by name, is a 404 and leaves it in place.
        victim = next(t for t, _ in docs)
        target = next(s for s in client.get("/v1/sources", headers=HEADERS[victim]).json())
        if searcher != victim:
            for key in (target["id"], target["path"]):
                assert client.delete(f"/v1/sources/{key}", headers=HEADERS[searcher]).status_code == 404
            assert target["path"] in {s["path"] for s in client.get("/v1/sources", headers=HEADERS[victim]).json()}

    check()
