"""No tenant reads another tenant's stored image through /v1/media, however the reference is spelled.

Requests go to the app as a server would pass them on: the raw path as sent (dot segments and percent
escapes kept, which HTTP clients would normalise away) and the percent-decoded path the router matches.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote, unquote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.rag.api.support import ACME, GLOBEX, upload


def raw_get(client: Any, raw_path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET ``raw_path`` (not normalised by an HTTP client) through the app; the status and the body."""
    path, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    status: list[int] = []
    body = bytearray()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:  # after the request: the client is gone (streamed responses listen for this)
            return {"type": "http.disconnect"}
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    client.portal.call(client.app, scope, receive, send)
    return status[0], bytes(body)


def _image_ref(client: Any, headers: dict[str, str], name: str, color: str) -> tuple[str, str]:
    png = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(png, format="PNG")
    assert upload(client, headers, {name: png.getvalue()})["status"] == "succeeded"
    hits = client.post(
        "/v1/search", headers=headers, json={"query": name, "limit": 50, "filters": {"modalities": ["image"]}}
    ).json()["hits"]
    url = next(h["image_url"] for h in hits if h["path"] == name)
    return unquote(url.split("/v1/media/", 1)[1].split("?", 1)[0]), url


def _attacks(victim: str, own: str) -> list[str]:
    """Spellings of the victim's reference behind the attacker's tenant (``own`` is the attacker's own ref)."""
    v_tenant, rest = victim.split("/", 1)
    o_tenant = own.split("/", 1)[0]
    dots = ["..", "%2e%2e", "%2E%2E", ".%2e", "%2e."]
    seps = ["/", "%2f", "%2F"]
    refs = [f"{o_tenant}{s}{d}{s}{v_tenant}/{rest}" for d in dots for s in seps]
    refs += [
        victim,
        quote(victim, safe=""),
        f"{o_tenant}/./../{victim}",
        f"{o_tenant}//../{victim}",
        f"{o_tenant}/{rest.split('/')[0]}/../../{victim}",
        f"{o_tenant}\\..\\{victim}",
        f"{o_tenant}%5c..%5c{victim}",
        f"{o_tenant}/%252e%252e/{victim}",
        f"{own}/../../../../{victim}",
        f"./{victim}",
        f"/{victim}",
        f"{victim}/",
        f"{victim}%00.jpg",
        f"{victim};{o_tenant}",
    ]
    return refs


def test_a_tenant_never_reads_another_tenants_image(make_client: Any) -> None:
    client = make_client("clip")
    victim, victim_url = _image_ref(client, ACME, "acme-secret.png", "red")
    own, own_url = _image_ref(client, GLOBEX, "globex-own.png", "blue")
    secret = client.get(f"/v1/media/{victim}", headers=ACME).content
    assert client.get(f"/v1/media/{own}", headers=GLOBEX).status_code == 200  # the attacker's own image opens

    for ref in _attacks(victim, own):
        for query in ("", "?size=thumb"):
            status, body = raw_get(client, f"/v1/media/{ref}{query}", GLOBEX)
            assert status != 200 and body != secret, ref
            status, body = raw_get(client, f"/v1/media/{ref}{query}", {})
            assert status in (401, 404) and body != secret, ref

    # A valid signature for the attacker's own image does not carry over to a path that merely starts with it.
    signature = own_url.split("?", 1)[1]
    for ref in (f"{own.split('/', 1)[0]}/%2e%2e/{victim}", f"{own}/../../../../{victim}"):
        status, body = raw_get(client, f"/v1/media/{ref}?{signature}", {})
        assert status == 401 and body != secret, ref
    assert client.get(victim_url).status_code == 200  # the victim's own signed link still works


_SEGMENTS = st.sampled_from(["acme", "globex", "..", ".", "", "%2e%2e", "%2f", "%5c", "%00", "x"])


def test_random_references_never_cross_tenants(make_client: Any) -> None:
    client = make_client("clip")
    victim, _ = _image_ref(client, ACME, "acme-secret.png", "red")
    secret = client.get(f"/v1/media/{victim}", headers=ACME).content
    victim_parts = victim.split("/")

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        prefix=st.lists(_SEGMENTS, max_size=4),
        keep=st.integers(min_value=0, max_value=4),
        sep=st.sampled_from(["/", "%2f", "%2F", "\\"]),
    )
    def check(prefix: list[str], keep: int, sep: str) -> None:
        ref = sep.join([*prefix, *victim_parts[len(victim_parts) - keep :]])
        status, body = raw_get(client, f"/v1/media/{ref}", GLOBEX)
        assert status != 200 and body != secret, ref

    check()
