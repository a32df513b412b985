"""Open untrusted image files safely and resize images for embedding or storage.

:func:`open_image` refuses oversized images from the header alone (before any pixel is decoded), decodes
the whole first frame so that truncated or corrupt files fail here rather than deep inside a model, applies
the EXIF orientation and returns a plain RGB image (transparency composited on white) that holds no open
file. PIL's own decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) is left as it is: it still refuses
anything over twice its value while the header is read, so caps above that need the application to raise it.
"""

from __future__ import annotations

import logging
import math
import re
import struct
import warnings
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

from rag.errors import SourceLoadError

__all__ = ["fit_pixels", "fit_side", "open_image", "to_rgb"]

logger = logging.getLogger(__name__)

_WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_BIT_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_PIL_PIXELS = re.compile(r"\((\d+) pixels\)")


def open_image(path: Path | IO[bytes], *, max_source_pixels: int, source: str | None = None) -> Image.Image:
    """Decode the first frame of the image at ``path`` (or in a binary stream) into an RGB image.

    Raises :class:`SourceLoadError` (with ``source``, default ``str(path)``) for images over
    ``max_source_pixels``, data that is not an image, and corrupt or truncated images.
    """
    source = source or str(path)
    try:
        with warnings.catch_warnings():
            # Our own cap is checked below, with a clearer message; PIL's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_source_pixels:
                    size = f"image is {width}x{height} = {width * height} pixels"
                    raise SourceLoadError(_bomb_message(size, max_source_pixels), source=source)
                image.seek(0)  # first frame of animations
                image.load()  # full decode: truncated or corrupt data fails here
                return to_rgb(_oriented(image, source))
    except Image.DecompressionBombError as exc:
        raise SourceLoadError(_pil_bomb_message(str(exc), max_source_pixels), source=source) from exc
    except UnidentifiedImageError as exc:
        raise SourceLoadError("not a readable image (unknown or damaged format)", source=source) from exc
    except OSError as exc:
        if exc.errno is None:  # PIL's own "image file is truncated", "broken data stream", ...
            raise SourceLoadError(f"corrupt or truncated image: {exc}", source=source) from exc
        raise SourceLoadError(f"cannot read file: {exc.strerror or exc}", source=source) from exc
    except (SyntaxError, ValueError, EOFError) as exc:
        # PIL reports damaged data as OSError ("image file is truncated"), SyntaxError (bad headers in some
        # plugins), ValueError or EOFError depending on the format.
        raise SourceLoadError(f"corrupt or truncated image: {exc}", source=source) from exc


def _oriented(image: Image.Image, source: str) -> Image.Image:
    """Apply the EXIF orientation; a damaged EXIF block is ignored (the pixels are still fine)."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError, struct.error) as exc:
        logger.warning("%s: ignoring unreadable EXIF orientation: %s", source, exc)
        return image


def _bomb_message(size: str, cap: int) -> str:
    return f"{size}, over the cap of {cap} (possible decompression bomb; images.max_source_pixels)"


def _pil_bomb_message(pil_message: str, cap: int) -> str:
    """PIL refused the header itself (over twice ``PIL.Image.MAX_IMAGE_PIXELS``): say whose limit it was."""
    match = _PIL_PIXELS.search(pil_message)
    pixels = int(match.group(1)) if match else None
    if pixels is None or pixels > cap:
        return _bomb_message(f"image has {pixels} pixels" if pixels else "image is too large", cap)
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    return (
        f"image has {pixels} pixels, over PIL's limit of {limit} (possible decompression bomb; "
        "the application must raise PIL.Image.MAX_IMAGE_PIXELS to allow it)"
    )


def to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB image; transparency is composited on white, 16-bit grey is scaled down to 8 bits."""
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        image = image.point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def fit_pixels(image: Image.Image, max_pixels: int) -> Image.Image:
    """Downscale (LANCZOS, aspect kept) so that ``width * height <= max_pixels``; small images come back as is."""
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    width, height = image.size
    if width * height <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (width * height))
    new_width, new_height = max(1, int(width * scale)), max(1, int(height * scale))
    # Guard against float rounding and against the 1-pixel floor of very thin images.
    while new_width * new_height > max_pixels:
        if new_width >= new_height and new_width > 1:
            new_width -= 1
        elif new_height > 1:
            new_height -= 1
        else:
            break
    return image.resize((new_width, new_height), Image.Resampling.LANCZOS)


def fit_side(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale (LANCZOS, aspect kept) so that the longest side is at most ``max_side``; else as is."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    width, height = image.size
    longest = max(width, height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    new_size = (max(1, min(max_side, round(width * scale))), max(1, min(max_side, round(height * scale))))
    return image.resize(new_size, Image.Resampling.LANCZOS)
