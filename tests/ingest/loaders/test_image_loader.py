from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from ingest.loaders.image import ImageLoader
from rag.errors import IngestError, SourceLoadError, UnsupportedSourceError
from rag.records import Source

SourceFactory = Callable[[Path], Source]


def test_one_rgb_item_fitted_to_max_pixels(tmp_path: Path, make_source: SourceFactory) -> None:
    path = tmp_path / "Big Photo.jpeg"
    Image.new("RGB", (400, 100), (10, 200, 10)).save(path)
    [item] = list(ImageLoader(max_pixels=10_000, max_source_pixels=10**6).load(make_source(path)))
    assert (item.kind, item.modality, item.locator, item.title) == ("image", "image", "image", "Big Photo")
    assert item.image is not None and item.image.mode == "RGB"
    assert item.image.width * item.image.height <= 10_000 and item.image.width == 4 * item.image.height
    assert dict(item.extra) == {"width": 400, "height": 100}
    assert item.text is None and item.page is None


def test_small_image_is_not_resized(tmp_path: Path, make_source: SourceFactory) -> None:
    path = tmp_path / "icon.png"
    Image.new("RGBA", (16, 16), (0, 0, 255, 255)).save(path)
    [item] = list(ImageLoader(max_pixels=10_000, max_source_pixels=10**6).load(make_source(path)))
    assert item.image is not None and item.image.size == (16, 16) and item.image.mode == "RGB"


def cut_png(path: Path) -> None:
    Image.effect_noise((64, 64), 50).save(path, format="PNG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("name", "prepare", "error", "reason"),
    [
        ("empty.png", lambda p: p.write_bytes(b""), UnsupportedSourceError, "empty file"),
        ("garbage.gif", lambda p: p.write_bytes(b"GIF? no" * 50), SourceLoadError, "not a readable image"),
        ("cut.png", cut_png, SourceLoadError, "corrupt or truncated image"),
        ("large.bmp", lambda p: Image.new("RGB", (200, 200)).save(p), SourceLoadError, "image is 200x200 = 40000"),
    ],
)
def test_bad_images(
    tmp_path: Path,
    make_source: SourceFactory,
    name: str,
    prepare: Callable[[Path], None],
    error: type[IngestError],
    reason: str,
) -> None:
    path = tmp_path / name
    prepare(path)
    source = make_source(path)
    with pytest.raises(error) as info:
        list(ImageLoader(max_pixels=1_000, max_source_pixels=39_999).load(source))
    assert info.value.message.startswith(reason), info.value.message
    assert info.value.source == str(source.path) and str(source.path) in str(info.value)
