"""Page renders with a hit's regions drawn on them, whole or cropped around the regions.

A region set travels in a link as ``hl=x0,y0,x1,y1;x0,y0,x1,y1...`` (fractions of the render, four decimals
at most): :func:`encode_regions` writes it, :func:`parse_regions` reads it back and refuses anything else
(:class:`InvalidHighlightError`). The API signs it together with the image reference and the crop flag
(:meth:`rag.api.links.LinkSigner.highlight_url`), so a link shows only the regions it was made for, on its
own image. :func:`draw` fills each region with translucent yellow and outlines it; with ``crop`` the result
is cut around the regions with a margin, never flatter than three to one, so a one-line highlight keeps the
lines around it as context.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.records import Region

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["MAX_REGIONS", "Box", "InvalidHighlightError", "draw", "encode_regions", "parse_regions"]

Box = tuple[float, float, float, float]
MAX_REGIONS = 32
_MAX_CHARS = MAX_REGIONS * 4 * 7
_NUMBER = re.compile(r"(?:0|1)(?:\.\d{1,6})?")
_FILL = (255, 214, 0, 80)
_OUTLINE = (232, 110, 0, 255)
_MARGIN = 0.04  # of the page, around the regions of a crop
_MIN_ASPECT = 1 / 3  # a crop is at least a third as high as it is wide (when the page allows)


class InvalidHighlightError(RagError):
    """A region set that is not of the form :func:`encode_regions` writes."""


def _number(value: float) -> str:
    return f"{round(min(1.0, max(0.0, value)), 4):.4f}".rstrip("0").rstrip(".")


def encode_regions(regions: Iterable[Region]) -> str:
    """The ``hl`` parameter for ``regions`` (the first :data:`MAX_REGIONS`)."""
    boxes = [(r.x0, r.y0, r.x1, r.y1) for r in regions][:MAX_REGIONS]
    return ";".join(",".join(_number(v) for v in box) for box in boxes)


def parse_regions(text: str) -> list[Box]:
    """The boxes of an ``hl`` parameter; raises :class:`InvalidHighlightError` naming what is wrong."""
    if not text or len(text) > _MAX_CHARS:
        raise InvalidHighlightError(f"hl: expected 1 to {MAX_REGIONS} regions")
    boxes: list[Box] = []
    for part in text.split(";"):
        values = part.split(",")
        if len(values) != 4 or not all(_NUMBER.fullmatch(v) for v in values):
            raise InvalidHighlightError("hl: each region is four numbers from 0 to 1, x0,y0,x1,y1")
        x0, y0, x1, y1 = (float(v) for v in values)
        if max(x0, y0, x1, y1) > 1 or x1 < x0 or y1 < y0:
            raise InvalidHighlightError("hl: a region must lie within 0-1 with x0 <= x1 and y0 <= y1")
        boxes.append((x0, y0, x1, y1))
    if len(boxes) > MAX_REGIONS:
        raise InvalidHighlightError(f"hl: at most {MAX_REGIONS} regions")
    return boxes


def _crop_box(boxes: Sequence[Box]) -> Box:
    """The union of ``boxes`` with a margin, made at least :data:`_MIN_ASPECT` as high as wide (in page fractions,
    which is close enough for the thumbnails it is for), within the page."""
    x0 = max(0.0, min(b[0] for b in boxes) - _MARGIN)
    y0 = max(0.0, min(b[1] for b in boxes) - _MARGIN)
    x1 = min(1.0, max(b[2] for b in boxes) + _MARGIN)
    y1 = min(1.0, max(b[3] for b in boxes) + _MARGIN)
    missing = (x1 - x0) * _MIN_ASPECT - (y1 - y0)
    if missing > 0:
        y0, y1 = y0 - missing / 2, y1 + missing / 2
        shift = max(0.0, -y0) - max(0.0, y1 - 1.0)
        y0, y1 = max(0.0, y0 + shift), min(1.0, y1 + shift)
    return x0, y0, x1, y1


def draw(image: Image.Image, boxes: Sequence[Box], *, crop: bool = False) -> Image.Image:
    """``image`` (RGB) with ``boxes`` (fractions of it) filled translucent and outlined; cut around them with a
    margin when ``crop``."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    base = image.convert("RGBA")
    width, height = base.size
    overlay = PILImage.new("RGBA", base.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(overlay)
    line = max(1, round(max(width, height) / 400))
    for x0, y0, x1, y1 in boxes:
        pad = line + round(0.15 * (y1 - y0) * height)  # text boxes are tight to the glyphs: keep the outline off them
        box = (
            math.floor(x0 * width) - pad,
            math.floor(y0 * height) - pad,
            math.ceil(x1 * width) + pad,
            math.ceil(y1 * height) + pad,
        )
        pen.rectangle(box, fill=_FILL, outline=_OUTLINE, width=line)
    shown = PILImage.alpha_composite(base, overlay).convert("RGB")
    if crop and boxes:
        x0, y0, x1, y1 = _crop_box(boxes)
        shown = shown.crop(
            (math.floor(x0 * width), math.floor(y0 * height), math.ceil(x1 * width), math.ceil(y1 * height))
        )
    return shown
