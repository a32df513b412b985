from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ingest.imaging import fit_pixels, fit_side, open_image, to_rgb
from rag.errors import SourceLoadError

BIG_CAP = 10_000_000


def save(image: Image.Image, path: Path, **params: Any) -> Path:
    image.save(path, **params)
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".gif", ".bmp", ".tiff"])
def test_opens_common_formats_as_rgb(tmp_path: Path, suffix: str) -> None:
    path = save(Image.new("RGB", (64, 48), (200, 30, 30)), tmp_path / f"red{suffix}")
    image = open_image(path, max_source_pixels=BIG_CAP)
    assert (image.mode, image.size) == ("RGB", (64, 48))
    red, green, blue = image.getpixel((10, 10))  # type: ignore[misc]
    assert red > 150 and green < 80 and blue < 80


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (32, 32), color) for color in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as check:
        assert getattr(check, "n_frames", 1) == 2
    image = open_image(path, max_source_pixels=BIG_CAP)
    assert image.getpixel((5, 5)) == (255, 0, 0)


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 10))
    image = open_image(save(rgba, tmp_path / "alpha.png"), max_source_pixels=BIG_CAP)
    assert image.mode == "RGB"
    assert image.getpixel((15, 5)) == (255, 255, 255)
    assert image.getpixel((5, 5)) == (0, 0, 255)


def test_palette_transparency_is_composited_on_white(tmp_path: Path) -> None:
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (0, 0, 5, 10))
    image = open_image(save(palette, tmp_path / "p.gif", transparency=0), max_source_pixels=BIG_CAP)
    assert image.getpixel((2, 2)) == (255, 0, 0) and image.getpixel((8, 2)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    wide = Image.new("RGB", (40, 20), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image = open_image(save(wide, tmp_path / "rotated.jpg", exif=exif), max_source_pixels=BIG_CAP)
    assert image.size == (20, 40)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    grey = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    image = open_image(save(grey, tmp_path / "deep.png"), max_source_pixels=BIG_CAP)
    assert image.getpixel((0, 0)) == (128, 128, 128)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_fails_with_a_clear_reason(tmp_path: Path, fmt: str) -> None:
    full = save(Image.effect_noise((128, 128), 64).convert("RGB"), tmp_path / "full.img", format=fmt).read_bytes()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(SourceLoadError, match="corrupt or truncated image") as info:
        open_image(path, max_source_pixels=BIG_CAP)
    assert info.value.source == str(path) and str(path) in str(info.value)


def test_garbage_is_not_a_readable_image(tmp_path: Path) -> None:
    path = tmp_path / "garbage.png"
    path.write_bytes(b"this is not an image at all" * 20)
    with pytest.raises(SourceLoadError, match="not a readable image") as info:
        open_image(path, max_source_pixels=BIG_CAP)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceLoadError, match="cannot read file"):
        open_image(tmp_path / "gone.png", max_source_pixels=BIG_CAP)


def test_images_over_the_cap_are_refused(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (40, 30)), tmp_path / "small.png")
    with pytest.raises(SourceLoadError) as info:
        open_image(path, max_source_pixels=1000)
    assert info.value.message.startswith(
        "image is 40x30 = 1200 pixels, over the cap of 1000 (possible decompression bomb"
    )
    assert str(path) in str(info.value)
    assert open_image(path, max_source_pixels=1200).size == (40, 30)


def test_bomb_between_pil_limits_is_refused_from_its_header_without_leaking_warnings(
    make_bilevel_png: Callable[..., Path],
) -> None:
    # 100 M pixels: over PIL's warning limit (89 M), under its hard limit; a valid file of a few KB.
    path = make_bilevel_png("bomb.png", 10_000, 10_000)
    assert path.stat().st_size < 100_000
    limit_before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SourceLoadError, match=r"image is 10000x10000 = 100000000 pixels, over the cap of 89478485"):
            open_image(path, max_source_pixels=89_478_485)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert limit_before == Image.MAX_IMAGE_PIXELS


def test_huge_bomb_is_refused_before_decoding(make_bilevel_png: Callable[..., Path]) -> None:
    path = make_bilevel_png("huge.png", 50_000, 50_000, complete=False)  # 2.5 G pixels
    started = time.perf_counter()
    with pytest.raises(SourceLoadError, match=r"2500000000 pixels, over the cap of 89478485 \(possible decompression"):
        open_image(path, max_source_pixels=89_478_485)
    assert time.perf_counter() - started < 2


def test_pil_hard_limit_is_named_when_the_cap_is_higher(make_bilevel_png: Callable[..., Path]) -> None:
    path = make_bilevel_png("huge.png", 50_000, 50_000, complete=False)
    with pytest.raises(SourceLoadError, match=r"2500000000 pixels, over PIL's limit of 178956970"):
        open_image(path, max_source_pixels=10**10)


def test_small_bilevel_png_helper_is_a_valid_image(make_bilevel_png: Callable[..., Path]) -> None:
    """The bomb builder writes real PNGs: a small one decodes (so the refusals above are about size)."""
    image = open_image(make_bilevel_png("tiny.png", 300, 200), max_source_pixels=BIG_CAP)
    assert image.size == (300, 200) and image.getpixel((0, 0)) == (0, 0, 0)


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 400), height=st.integers(1, 400), max_pixels=st.integers(1, 40_000))
def test_fit_pixels(width: int, height: int, max_pixels: int) -> None:
    image = Image.new("RGB", (width, height))
    fitted = fit_pixels(image, max_pixels)
    if width * height <= max_pixels:
        assert fitted is image
        return
    new_width, new_height = fitted.size
    assert new_width * new_height <= max_pixels
    assert new_width <= width and new_height <= height
    # Aspect ratio kept (within rounding), and not needlessly small.
    if min(new_width, new_height) >= 20:
        assert abs(new_width / new_height - width / height) < 0.1 * (width / height)
        assert new_width * new_height > 0.8 * max_pixels


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 400), height=st.integers(1, 400), max_side=st.integers(1, 300))
def test_fit_side(width: int, height: int, max_side: int) -> None:
    image = Image.new("RGB", (width, height))
    fitted = fit_side(image, max_side)
    if max(width, height) <= max_side:
        assert fitted is image
        return
    assert max(fitted.size) == max_side
    assert fitted.width <= width and fitted.height <= height


def test_fit_rejects_non_positive_limits() -> None:
    image = Image.new("RGB", (4, 4))
    with pytest.raises(ValueError):
        fit_pixels(image, 0)
    with pytest.raises(ValueError):
        fit_side(image, 0)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "F"])
def test_to_rgb_handles_every_common_mode(mode: str) -> None:
    image = to_rgb(Image.new(mode, (3, 3)))
    assert image.mode == "RGB" and image.size == (3, 3)
