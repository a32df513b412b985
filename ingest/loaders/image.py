"""Standalone image files: one ``image`` item per file, downscaled for embedding."""

from __future__ import annotations

from collections.abc import Iterator

from ingest.imaging import fit_pixels, open_image
from ingest.loaders.base import require_nonempty
from rag.records import Item, Source

__all__ = ["ImageLoader"]


class ImageLoader:
    """Yields one ``Item(kind="image", locator="image")`` holding the RGB image fitted to ``max_pixels``.

    ``extra`` carries the decoded size (after EXIF orientation) as ``width`` and ``height``. Images over
    ``max_source_pixels`` are refused from their header, before decoding.
    """

    name = "image"
    mime_types = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"})

    def __init__(self, max_pixels: int, max_source_pixels: int) -> None:
        if max_pixels < 1 or max_source_pixels < 1:
            raise ValueError("max_pixels and max_source_pixels must be positive")
        self.max_pixels = max_pixels
        self.max_source_pixels = max_source_pixels

    def load(self, source: Source) -> Iterator[Item]:
        require_nonempty(source.path)
        image = open_image(source.path, max_source_pixels=self.max_source_pixels)
        width, height = image.size
        yield Item(
            kind="image",
            locator="image",
            image=fit_pixels(image, self.max_pixels),
            title=source.path.stem or source.path.name,
            extra={"width": width, "height": height},
        )
