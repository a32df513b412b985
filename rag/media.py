"""Stored images (image thumbnails, PDF page renders, video keyframes) kept on disk next to the store.

Layout: ``MEDIA_DIR/<tenant>/<source key>/<content hash[:16]>/<locator>.jpg``. The source key is derived
from the tenant and source id, so deleting a source removes one directory, and a new content version is
written beside the old one until it is complete. References stored in payloads are relative POSIX paths
whose first part is the tenant, which is how the API checks that a caller may read one.

A reference that arrives from outside (an API request) is parsed once into a :class:`MediaRef`, which
accepts exactly the four parts of the layout, each in the form the store writes it (no ``.``/``..``, empty
parts, separators, percent signs or control characters can pass), and the file is then resolved and checked
to lie inside that tenant's own folder: the tenant that is checked is the tenant that is read.

Files are written to a temporary name and renamed, so a killed process leaves at most a ``*.tmp`` file
behind, never a truncated image; :meth:`MediaStore.clear_partial` removes those before a version is
written again.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from rag.config import validate_tenant
from rag.errors import RagError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ImageOpener", "InvalidMediaRefError", "MediaRef", "MediaStore"]

# What opens a stored image by its media reference (:meth:`MediaStore.open_image`), for the prompt and the reranker.
ImageOpener = Callable[[str], "Image.Image | None"]

_NAMESPACE = uuid.UUID("0b5f8a52-1f4e-4c39-8a57-5f1d2f7c6e30")
_PARTIAL_SUFFIX = ".tmp"
_SAVE_ATTEMPTS = 3
_SOURCE_KEY_RE = re.compile(r"[0-9a-f]{32}")
_VERSION_RE = re.compile(r"[0-9a-f]{16}")
# A locator with "/" replaced by "_", then ".jpg": letters, digits, "_", "-", "." but never a leading dot.
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}\.jpg")


class InvalidMediaRefError(RagError):
    """A media reference that is not of the form the store writes (or that leads out of its tenant's folder)."""


@dataclass(frozen=True)
class MediaRef:
    """A parsed media reference: ``<tenant>/<source key>/<version>/<name>.jpg``."""

    tenant: str
    source_key: str
    version: str
    name: str

    @classmethod
    def parse(cls, ref: str) -> MediaRef:
        """Parse ``ref`` strictly: exactly the four parts, each in the form the store writes it."""
        parts = ref.split("/")
        if len(parts) != 4:
            raise InvalidMediaRefError(f"invalid image reference {ref!r}: expected 4 parts, found {len(parts)}")
        tenant, source_key, version, name = parts
        try:
            validate_tenant(tenant)
        except ValueError as exc:
            raise InvalidMediaRefError(f"invalid image reference {ref!r}: {exc}") from None
        if not _SOURCE_KEY_RE.fullmatch(source_key) or not _VERSION_RE.fullmatch(version):
            raise InvalidMediaRefError(f"invalid image reference {ref!r}: malformed source key or version")
        if not _NAME_RE.fullmatch(name) or ".." in name:
            raise InvalidMediaRefError(f"invalid image reference {ref!r}: malformed file name")
        return cls(tenant, source_key, version, name)

    def __str__(self) -> str:
        return f"{self.tenant}/{self.source_key}/{self.version}/{self.name}"


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

    def resolve(self, ref: str | MediaRef) -> Path:
        """The file behind a reference, which must resolve (links followed) inside its tenant's folder."""
        parsed = ref if isinstance(ref, MediaRef) else MediaRef.parse(ref)
        tenant_dir = (self.root / parsed.tenant).resolve()
        path = (tenant_dir / parsed.source_key / parsed.version / parsed.name).resolve()
        if not path.is_relative_to(tenant_dir) or path == tenant_dir:
            raise InvalidMediaRefError(f"image reference {str(parsed)!r} leads out of its tenant's folder")
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
