"""Query images (search, answer, chat) are refused before they are decoded when they cannot be used."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, ImageFile

from tests.rag.api.support import ACME, EXAMPLES

SIDE = 9000  # 81 million pixels: under RAG_IMAGES__MAX_SOURCE_PIXELS, over RAG_API__MAX_QUERY_IMAGE_PIXELS


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.fixture(scope="module")
def huge_png() -> str:
    """A valid, all-black 9000x9000 greyscale PNG: about 80 kB, built without holding its pixels."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (SIDE + 1)  # filter byte + pixels
    pixels = b"".join(compressor.compress(row) for _ in range(SIDE)) + compressor.flush()
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (SIDE, SIDE)
    return "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The sizes of the images whose pixels get decoded (PNG decoding goes through ImageFile.load)."""
    sizes: list[tuple[int, int]] = []
    for cls in (Image.Image, ImageFile.ImageFile):
        real = cls.load

        def load(self: Any, real: Any = real) -> Any:
            sizes.append(self.size)
            return real(self)

        monkeypatch.setattr(cls, "load", load)
    return sizes


def _requests(image: str) -> list[tuple[str, dict[str, Any]]]:
    parts = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": image}}]
    return [
        ("/v1/search", {"query": "what is this?", "image": image}),
        ("/v1/answer", {"question": "what is this?", "image": image}),
        ("/v1/chat/completions", {"model": "rag", "messages": [{"role": "user", "content": parts}]}),
    ]


def test_no_image_model_refuses_before_decoding(
    make_client: Any, huge_png: str, decoded: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client("minilm")  # text models only
    b64decoded: list[int] = []
    real_b64decode = base64.b64decode
    monkeypatch.setattr(base64, "b64decode", lambda data, **kw: b64decoded.append(1) or real_b64decode(data, **kw))
    for path, body in _requests(huge_png):
        response = client.post(path, headers=ACME, json=body)
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "image_query_unsupported", path
        assert error["message"] == "no loaded model can encode an image query"
    assert decoded == [] and b64decoded == []


def test_an_image_over_the_query_cap_is_refused_from_its_header(
    make_client: Any, huge_png: str, decoded: list[tuple[int, int]]
) -> None:
    client = make_client("clip")
    for path, body in _requests(huge_png):
        response = client.post(path, headers=ACME, json=body)
        assert response.status_code == 413, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "image_too_large", path
        assert "9000x9000" in error["message"] and "RAG_API__MAX_QUERY_IMAGE_PIXELS" in error["message"]
    assert (SIDE, SIDE) not in decoded


@pytest.mark.parametrize(("cap", "status"), [(800 * 520, 200), (800 * 520 - 1, 413)])
def test_the_cap_counts_pixels(make_client: Any, cap: int, status: int) -> None:
    client = make_client("clip", api={"max_query_image_pixels": cap})
    png = (EXAMPLES / "images" / "wiring-diagram.png").read_bytes()  # 800x520
    image_url = "data:image/png;base64," + base64.b64encode(png).decode()
    response = client.post("/v1/search", headers=ACME, json={"image": image_url})
    assert response.status_code == status, response.text
