"""Uploaded files: checked, staged per job, then moved to ``UPLOAD_DIR/<tenant>/<name>`` when the job starts.

Uploads are kept: they are the sources that answers cite, and uploading the same name again replaces the
file, so the next ingest sees a changed source (its old points go) or an unchanged one (nothing to do).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ingest.discover import SUBTITLE_SUFFIXES, SUPPORTED_TYPES
from rag.api.errors import ApiError

__all__ = ["Staged", "safe_name"]

_VIDEO_SUFFIXES = frozenset(suffix for suffix, mime in SUPPORTED_TYPES.items() if mime.startswith("video/"))

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_MAX_PART = 200


def safe_name(filename: str | None) -> str:
    """A relative POSIX path from a client's file name: no absolute paths, ``..``, or control characters."""
    raw = _UNSAFE.sub("", (filename or "").replace("\\", "/"))
    parts = [p[:_MAX_PART] for p in PurePosixPath(raw).parts if p not in ("", ".", "..", "/")]
    if not parts:
        raise ApiError(400, f"invalid file name {filename!r}", code="bad_filename")
    return PurePosixPath(*parts).as_posix()


class Staged:
    """The files of one upload request, in a staging folder until their job moves them into place."""

    def __init__(self, upload_dir: Path, tenant: str) -> None:
        self.target = upload_dir / tenant
        self.staging = upload_dir / ".staging" / uuid.uuid4().hex
        self.names: list[str] = []

    def add(self, filename: str | None, stream: BinaryIO, *, max_bytes: int) -> str:
        name = safe_name(filename)
        if name in self.names:
            raise ApiError(400, f"{name}: the same file name twice in one request", code="duplicate_filename")
        path = self.staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with path.open("wb") as out:
            while block := stream.read(1 << 20):
                written += len(block)
                if written > max_bytes:
                    raise ApiError(
                        413, f"{name}: larger than the upload limit of {max_bytes // 2**20} MB", code="file_too_large"
                    )
                out.write(block)
        self.names.append(name)
        return name

    def commit(self) -> list[Path]:
        """Move the staged files into the tenant's upload folder (replacing same-named files); the job's paths.

        Subtitle sidecars are not sources of their own: the videos they belong to are ingested instead (an
        uploaded ``talk.srt`` re-ingests an already uploaded ``talk.mp4`` with the new subtitles).
        """
        paths: list[Path] = []
        for name in self.names:
            final = self.target / name
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / name, final)
            if final.suffix.lower() in SUBTITLE_SUFFIXES:
                paths.extend(_videos_for(final))
            else:
                paths.append(final)
        self.discard()
        return list(dict.fromkeys(paths))

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _videos_for(sidecar: Path) -> list[Path]:
    """Videos in the sidecar's folder that it belongs to (``talk.srt`` and ``talk.en.vtt`` → ``talk.*``)."""
    stem = sidecar.name.split(".", 1)[0]
    return sorted(
        p
        for p in sidecar.parent.glob(f"{stem}.*")
        if p.suffix.lower() in _VIDEO_SUFFIXES and p.is_file() and sidecar.name.startswith(p.stem + ".")
    )
