"""Stored images (image thumbnails, PDF page renders, video keyframes) kept on disk next to the store.

Layout: ``MEDIA_DIR/<tenant>/<source key>/<content hash[:16]>/<locator>.jpg``. The source key is derived
from the tenant and source id, so deleting a source removes one directory, and a new content version is
written beside the old one until it is complete. References stored in payloads are relative POSIX paths
whose first part is the tenant, which is how the API checks that a caller may read one.

Files are written to a temporary name and renamed, so a killed process leaves at most a ``*.tmp`` file
behind, never a truncated image; :meth:`MediaStore.clear_partial` removes those before a version is
written again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from rag.errors import RagError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["MediaStore"]

_NAMESPACE = uuid.UUID("0b5f8a52-1f4e-4c39-8a57-5f1d2f7c6e30")
_PARTIAL_SUFFIX = ".tmp"
_SAVE_ATTEMPTS = 3


class MediaStore:
    def __init__(self, root: Path, *, max_side: int = 1024, quality: int = 85) -> None:
        self.root = root
        self.max_side = max_side
        self.quality = quality

    @staticmethod
    def source_key(tenant: str, source_id: str) -> str:
        return uuid.uuid5(_NAMESPACE, f"{tenant}\x1f{source_id}").hex

    def _source_dir(self, tenant: str, source_id: str) -> Path:
        return self.root / tenant / self.source_key(tenant, source_id)

    @staticmethod
    def tenant_of(ref: str) -> str:
        """The tenant a reference belongs to."""
        return PurePosixPath(ref).parts[0] if ref else ""

    def save(self, tenant: str, source_id: str, content_hash: str, locator: str, image: Image.Image) -> str:
        """Write a JPEG (longest side capped) atomically; return its reference."""
        from PIL import Image as PILImage

        ref = PurePosixPath(
            tenant, self.source_key(tenant, source_id), content_hash[:16], locator.replace("/", "_") + ".jpg"
        )
        target = self.root / ref
        thumb = image.convert("RGB") if image.mode != "RGB" else image.copy()
        thumb.thumbnail((self.max_side, self.max_side), PILImage.Resampling.LANCZOS)
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                self._write_atomically(thumb, target)
                break
            except FileNotFoundError:
                # Another worker writing the same version cleared its leftovers under us: write again.
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
        return str(ref)

    def _write_atomically(self, image: Image.Image, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=_PARTIAL_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                image.save(fh, format="JPEG", quality=self.quality)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clear_partial(self, tenant: str, source_id: str, content_hash: str) -> None:
        """Remove half-written files (a killed run's temporary files) of one version before it is written."""
        version = self._source_dir(tenant, source_id) / content_hash[:16]
        if version.is_dir():
            for leftover in version.glob("*" + _PARTIAL_SUFFIX):
                leftover.unlink(missing_ok=True)

    def prune(self, tenant: str, source_id: str, keep_hash: str) -> None:
        """Remove stored images of other content versions of the source."""
        base = self._source_dir(tenant, source_id)
        if not base.is_dir():
            return
        for child in base.iterdir():
            if child.name != keep_hash[:16]:
                shutil.rmtree(child, ignore_errors=True)

    def remove_version(self, tenant: str, source_id: str, content_hash: str) -> None:
        shutil.rmtree(self._source_dir(tenant, source_id) / content_hash[:16], ignore_errors=True)

    def remove(self, tenant: str, source_id: str) -> None:
        shutil.rmtree(self._source_dir(tenant, source_id), ignore_errors=True)

    def resolve(self, ref: str) -> Path:
        """The file behind a reference; refuses anything that escapes the media directory."""
        path = (self.root / ref).resolve()
        root = self.root.resolve()
        if root not in path.parents:
            raise RagError(f"invalid image reference {ref!r}")
        return path

    def open_image(self, ref: str) -> Image.Image | None:
        """The stored image behind ``ref`` (decoded, RGB), or None when it is gone."""
        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        try:
            path = self.resolve(ref)
            with PILImage.open(path) as image:
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError, RagError):
            return None
