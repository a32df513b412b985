"""Highlighted page renders: hits' regions over REST, signed highlight and crop links, and who may open them."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import numpy as np
from PIL import Image

from rag.highlight import draw, encode_regions, parse_regions
from rag.records import Region
from tests.rag.api.support import ACME, GLOBEX, upload

LINES = [
    "The Helios battery stores thirteen kilowatt hours.",
    "Its warranty lasts twelve years from installation.",
    "The inverter is covered for five years only.",
]


def pdf_bytes() -> bytes:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(600, 800))
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    for i, line in enumerate(LINES):
        pdf.text(60, 200 + 40 * i, line)
    return bytes(pdf.output())


def text_hit(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    hits = client.post("/v1/search", headers=headers, json={"query": "warranty twelve years", "limit": 10}).json()
    return next(h for h in hits["hits"] if h["kind"] == "text" and h["name"] == "helios.pdf")


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return unquote(parts.path.split("/v1/media/", 1)[1]), {k: v[0] for k, v in parse_qs(parts.query).items()}


def yellow(image: Image.Image) -> int:
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int(((pixels[..., 0] > 200) & (pixels[..., 1] > 180) & (pixels[..., 2] < 140)).sum())


def test_hits_carry_regions_and_signed_highlight_links(make_client: Any) -> None:
    client = make_client("minilm")
    upload(client, ACME, {"helios.pdf": pdf_bytes(), "notes.md": b"# Notes\n\nThe warranty lasts twelve years.\n"})
    hit = text_hit(client, ACME)
    assert len(hit["regions"]) == 3 and all(r["page"] == 1 for r in hit["regions"])
    assert hit["highlight_url"] and hit["crop_url"]
    page = Image.open(io.BytesIO(client.get(hit["image_url"]).content))
    whole = Image.open(io.BytesIO(client.get(hit["highlight_url"]).content))  # no key: the signature opens it
    crop = Image.open(io.BytesIO(client.get(hit["crop_url"]).content))
    assert whole.size == page.size and yellow(whole) > 500 and yellow(page) == 0
    assert crop.width < page.width and crop.height < page.height / 2 and yellow(crop) > 500

    hits = client.post("/v1/search", headers=ACME, json={"query": "warranty twelve years", "limit": 10}).json()
    markdown = next(h for h in hits["hits"] if h["name"] == "notes.md")
    assert markdown["regions"] == [] and markdown["highlight_url"] is None


def test_a_forged_or_moved_region_set_is_refused(make_client: Any) -> None:
    client = make_client("minilm")
    upload(client, ACME, {"helios.pdf": pdf_bytes()})
    upload(client, GLOBEX, {"helios.pdf": pdf_bytes()})
    acme_ref, acme = split(text_hit(client, ACME)["crop_url"])
    globex_ref, globex = split(text_hit(client, GLOBEX)["crop_url"])
    assert client.get(f"/v1/media/{quote(acme_ref)}?{urlencode(acme)}").status_code == 200

    forged = {**acme, "hl": "0,0,1,1"}  # the whole page instead of the cited lines, same signature
    assert client.get(f"/v1/media/{quote(acme_ref)}?{urlencode(forged)}").status_code == 401
    uncropped = {k: v for k, v in acme.items() if k != "crop"}
    assert client.get(f"/v1/media/{quote(acme_ref)}?{urlencode(uncropped)}").status_code == 401
    # Acme's signed region set on Globex's page render (and the other way round): refused.
    assert client.get(f"/v1/media/{quote(globex_ref)}?{urlencode(acme)}").status_code == 401
    assert client.get(f"/v1/media/{quote(acme_ref)}?{urlencode(globex)}").status_code == 401
    # With a key, a tenant draws on its own images only.
    assert client.get(f"/v1/media/{quote(acme_ref)}?{urlencode(acme)}", headers=GLOBEX).status_code == 200  # signed
    assert client.get(f"/v1/media/{quote(acme_ref)}?hl=0,0,1,1", headers=GLOBEX).status_code == 404
    assert client.get(f"/v1/media/{quote(acme_ref)}?hl=0,0,1,1&crop=true", headers=ACME).status_code == 200
    for bad in ("1,2,3", "0,0,2,1", "0.5,0,0.1,1", "a,b,c,d", ";".join(["0,0,1,1"] * 40)):
        response = client.get(f"/v1/media/{quote(acme_ref)}?hl={quote(bad)}", headers=ACME)
        assert response.status_code == 400 and "hl:" in response.json()["error"]["message"], bad


def test_chat_answers_show_the_highlighted_crop(make_client: Any) -> None:
    client = make_client("minilm")
    upload(client, ACME, {"helios.pdf": pdf_bytes()})
    body = {"model": "rag", "messages": [{"role": "user", "content": "How long does the warranty last?"}]}
    reply = client.post("/v1/chat/completions", headers=ACME, json=body).json()
    content = reply["choices"][0]["message"]["content"]
    cited = next(s["hit"] for s in reply["sources"] if s["cited"] and s["hit"]["kind"] == "text")
    assert cited["crop_url"] and f"]({cited['crop_url']})" in content
    assert len(cited["regions"]) < 3  # narrowed to the quoted sentence


def test_regions_round_trip_through_a_link_and_draw_where_they_say() -> None:
    regions = [Region(page=1, x0=0.1, y0=0.25, x1=0.123456, y1=0.3), Region(page=1, x0=0.5, y0=0.5, x1=1, y1=1)]
    assert parse_regions(encode_regions(regions)) == [(0.1, 0.25, 0.1235, 0.3), (0.5, 0.5, 1.0, 1.0)]
    image = draw(Image.new("RGB", (400, 400), "white"), [(0.25, 0.25, 0.5, 0.5)])
    inside, outside = image.getpixel((150, 150)), image.getpixel((300, 300))
    assert outside == (255, 255, 255) and inside != outside
    cropped = draw(Image.new("RGB", (1000, 1000), "white"), [(0.1, 0.5, 0.9, 0.52)], crop=True)
    assert abs(cropped.width - 880) <= 1 and cropped.height >= cropped.width // 3  # a margin, never a thin strip
