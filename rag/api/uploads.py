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
from rag.api.errors import ApiError, brief
from rag.errors import IngestError

__all__ = ["Staged", "safe_name"]

_VIDEO_SUFFIXES = frozenset(suffix for suffix, mime in SUPPORTED_TYPES.items() if mime.startswith("video/"))

# Control characters, and the bidirectional controls that make "\u202etxt.exe" display as "exe.txt".
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MAX_PART_BYTES = 200  # UTF-8 bytes per folder or file name (file systems allow 255)
_MAX_SUFFIX_BYTES = 16  # a longer "extension" is not one: the name is cut like any other


def safe_name(filename: str | None) -> str:
    """A relative POSIX path from a client's file name: no absolute paths, ``..``, or control characters.

    A folder or file name longer than 200 UTF-8 bytes is cut to that (the file's extension is kept).
    """
    raw = _UNSAFE.sub("", (filename or "").replace("\\", "/"))
    try:
        raw.encode()
    except UnicodeEncodeError as exc:  # lone surrogates: not text, and no file system stores them
        raise ApiError(400, "invalid file name: it is not valid Unicode text", code="bad_filename") from exc
    parts = [_cut(p) for p in PurePosixPath(raw).parts if p not in ("", ".", "..", "/")]
    if not parts:
        raise ApiError(400, f"invalid file name {brief(filename)}", code="bad_filename")
    return PurePosixPath(*parts).as_posix()


def _cut(part: str) -> str:
    """``part`` in at most :data:`_MAX_PART_BYTES` UTF-8 bytes, cut between characters, extension kept."""
    if len(part.encode()) <= _MAX_PART_BYTES:
        return part
    suffix = PurePosixPath(part).suffix
    if len(suffix.encode()) > _MAX_SUFFIX_BYTES:
        suffix = ""
    stem = part[: len(part) - len(suffix)]
    room = _MAX_PART_BYTES - len(suffix.encode())
    return stem.encode()[:room].decode(errors="ignore") + suffix


def _folders(name: str) -> list[str]:
    """The folders a relative name lies in, outermost first (``a/b/c.txt`` → ``a``, ``a/b``)."""
    return [parent.as_posix() for parent in reversed(PurePosixPath(name).parents) if parent.parts]


class Staged:
    """The files of one upload request, in a staging folder until their job moves them into place.

    A name that needs a file where the request or the tenant's uploads have a folder (or the other way
    round: ``c1`` and ``c1/x.txt``) is refused while staging, before anything is written for it.
    """

    def __init__(self, upload_dir: Path, tenant: str) -> None:
        self.target = upload_dir / tenant
        self.staging = upload_dir / ".staging" / uuid.uuid4().hex
        self.names: list[str] = []
        self._folders: set[str] = set()

    def add(self, filename: str | None, stream: BinaryIO, *, max_bytes: int) -> str:
        name = safe_name(filename)
        self._check(name)
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
        self._folders.update(_folders(name))
        return name

    def _check(self, name: str) -> None:
        if name in self.names:
            raise ApiError(400, f"{name}: the same file name twice in one request", code="duplicate_filename")
        if name in self._folders:
            raise ApiError(400, f"{name}: a file and a folder of that name in one request", code="filename_conflict")
        clash = next((folder for folder in _folders(name) if folder in self.names), None)
        if clash is not None:
            raise ApiError(400, f"{name}: {clash} is a file in this request, not a folder", code="filename_conflict")
        problem = _conflict(self.target, name)
        if problem is not None:
            raise ApiError(409, f"{name}: {problem}", code="filename_conflict")

    def commit(self) -> list[Path]:
        """Move the staged files into the tenant's upload folder (replacing same-named files); the job's paths.

        Subtitle sidecars are not sources of their own: the videos they belong to are ingested instead (an
        uploaded ``talk.srt`` re-ingests an already uploaded ``talk.mp4`` with the new subtitles). The
        staging folder is gone afterwards, whether every file could be moved or not.
        """
        paths: list[Path] = []
        try:
            for name in self.names:
                final = self.target / name
                try:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(self.staging / name, final)
                except OSError as exc:  # a conflicting upload that came in after this one was accepted
                    problem = _conflict(self.target, name) or exc.strerror or type(exc).__name__
                    raise IngestError(f"cannot store the upload: {problem}", source=name) from exc
                if final.suffix.lower() in SUBTITLE_SUFFIXES:
                    paths.extend(_videos_for(final))
                else:
                    paths.append(final)
        finally:
            self.discard()
        return list(dict.fromkeys(paths))

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _conflict(target: Path, name: str) -> str | None:
    """Why ``name`` cannot be stored under ``target`` (a file where a folder is needed, or a folder), or None."""
    for folder in _folders(name):
        path = target / folder
        if path.exists() and not path.is_dir():
            return f"{folder} is an uploaded file, not a folder"
    if (target / name).is_dir():
        return f"{name} is a folder of uploaded files"
    return None


def _videos_for(sidecar: Path) -> list[Path]:
    """Videos in the sidecar's folder that it belongs to (``talk.srt`` and ``talk.en.vtt`` → ``talk.*``)."""
    stem = sidecar.name.split(".", 1)[0]
    return sorted(
        p
        for p in sidecar.parent.glob(f"{stem}.*")
        if p.suffix.lower() in _VIDEO_SUFFIXES and p.is_file() and sidecar.name.startswith(p.stem + ".")
    )
