"""API keys → tenants, the loopback-only mode without keys, and signed image links."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from pydantic import ValidationError

from rag.api.links import LinkSigner
from rag.config import Settings
from tests.rag.api.support import ACME, EXAMPLES, GLOBEX, upload


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-key-at-all-000000"}, 401),
        ({"Authorization": "Basic a2V5LWFjbWUtMDEyMzQ1Njc4OWFiY2RlZg=="}, 401),
        ({"X-API-Key": "key-acme-0123456789abcdef"}, 200),
        (ACME, 200),
    ],
)
def test_every_data_route_needs_a_valid_key(make_client: Any, headers: dict[str, str], status: int) -> None:
    client = make_client("minilm")
    calls = [
        ("GET", "/v1/sources", None),
        ("GET", "/v1/jobs", None),
        ("GET", "/v1/models", None),
        ("POST", "/v1/search", {"query": "anything"}),
        ("POST", "/v1/answer", {"question": "anything"}),
        ("POST", "/v1/chat/completions", {"model": "rag", "messages": [{"role": "user", "content": "hi"}]}),
    ]
    for method, path, body in calls:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == status, (path, response.text)
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["type"] == "authentication_error"
    assert client.get("/healthz").status_code == 200  # health needs no key
    assert client.get("/readyz").status_code == 200


def test_without_keys_only_this_machine_is_served(make_client: Any, tmp_path: Any) -> None:
    local = make_client("minilm", keys={})
    assert local.get("/v1/sources").status_code == 200
    remote = make_client("minilm", keys={}, host="203.0.113.7", data_dir=tmp_path / "remote")
    refused = remote.get("/v1/sources")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "no_keys"
    assert remote.get("/healthz").status_code == 200


def test_keyless_uploads_go_to_the_default_tenant(make_client: Any) -> None:
    client = make_client("minilm", keys={})
    upload(client, {}, {"a.md": b"# A\n\nalpha beta gamma\n"})
    assert client.app.state.services.rag.sources(tenant="default")[0].name == "a.md"


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"changeme": "acme"}, "placeholder"),
        ({"short-key": "acme"}, "shorter than 16"),
        ({"key-acme-0123456789abcdef": "not a tenant!"}, "invalid tenant"),
    ],
)
def test_bad_keys_are_refused_at_start(keys: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(_env_file=None, api={"keys": keys})  # type: ignore[call-arg]


def test_keys_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_API__KEYS", '{"key-acme-0123456789abcdef": "acme"}')
    assert Settings(_env_file=None).api.keys == {"key-acme-0123456789abcdef": "acme"}  # type: ignore[call-arg]


def test_serve_binds_to_loopback_without_keys(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import uvicorn

    from rag import cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    args = argparse.Namespace(host="0.0.0.0", port=8123)
    assert cli._serve(args, Settings(_env_file=None)) == 0  # type: ignore[call-arg]
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert "binding to 127.0.0.1 instead of 0.0.0.0" in capsys.readouterr().err

    keyed = Settings(_env_file=None, api={"keys": {"key-acme-0123456789abcdef": "acme"}})  # type: ignore[call-arg]
    assert cli._serve(args, keyed) == 0
    assert seen["host"] == "0.0.0.0"


def test_images_open_with_the_owners_key_or_a_valid_signed_link(make_client: Any) -> None:
    client = make_client("clip")
    png = (EXAMPLES / "images" / "wiring-diagram.png").read_bytes()
    upload(client, ACME, {"wiring.png": png})
    hit = client.post("/v1/search", headers=ACME, json={"query": "wiring"}).json()["hits"][0]
    ref = hit["image_url"].split("/v1/media/", 1)[1].split("?", 1)[0]
    assert client.get(f"/v1/media/{ref}", headers=ACME).status_code == 200
    assert client.get(f"/v1/media/{ref}", headers=GLOBEX).status_code == 404  # another tenant's image
    assert client.get(f"/v1/media/{ref}").status_code == 401  # no key, no link
    assert client.get(hit["image_url"]).status_code == 200
    tampered = hit["image_url"].replace("sig=", "sig=0")
    assert client.get(tampered).status_code == 401
    assert client.get("/v1/media/../../etc/passwd", headers=ACME).status_code == 404


def test_signed_links_expire() -> None:
    now = [1_000_000.0]
    signer = LinkSigner(b"k" * 32, ttl_s=60, clock=lambda: now[0])
    query = signer.query("acme/x/y.jpg")
    assert signer.verify("acme/x/y.jpg", query["exp"], query["sig"])
    assert not signer.verify("globex/x/y.jpg", query["exp"], query["sig"])  # bound to the reference
    now[0] += 61
    assert not signer.verify("acme/x/y.jpg", query["exp"], query["sig"])
