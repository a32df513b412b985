"""Turn user-given paths (files, directories, glob patterns) into :class:`~rag.records.Source` records.

Anything that cannot become a source is reported as a :class:`~rag.records.FileFailure` with
``stage="discover"`` instead of raising, so that one bad argument never stops a run:

* a path that does not exist, or a glob pattern that matches nothing;
* a file of an unsupported type (reason ``unsupported file type '.xyz'``; ``stage="skip"`` when it was
  found inside a directory rather than named);
* a directory that cannot be listed, a broken symbolic link, something that is not a regular file.

Inside directories, hidden entries (names starting with ``.``) are skipped and subtitle sidecars
(``.srt``, ``.vtt``) are ignored silently: they belong to the video of the same name. Each resolved file is
reported once, directory symlink loops are cut, and the order is deterministic (each argument's expansion
sorted by path, arguments in the order given).
"""

from __future__ import annotations

import glob
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from rag.records import FileFailure, Source

__all__ = ["SKIPPED", "SUBTITLE_SUFFIXES", "SUPPORTED_TYPES", "discover", "mime_type_for"]

logger = logging.getLogger(__name__)

_STAGE = "discover"
# Stage of unsupported files found inside a directory: reported as skipped, not as failures.
SKIPPED = "skip"
_GLOB_CHARS = frozenset("*?[")

# Our own table rather than ``mimetypes``: the system table differs between machines (``/etc/mime.types``),
# and the set of types we can load is closed anyway.
SUPPORTED_TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".txt": "text/plain",
        ".md": "text/markdown",
        ".markdown": "text/markdown",
        ".rst": "text/x-rst",
        ".html": "text/html",
        ".htm": "text/html",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".webp": "image/webp",
        ".gif": "image/gif",
        ".bmp": "image/bmp",
        ".tif": "image/tiff",
        ".tiff": "image/tiff",
        ".pdf": "application/pdf",
        ".mp4": "video/mp4",
        ".webm": "video/webm",
        ".mov": "video/quicktime",
        ".mkv": "video/x-matroska",
    }
)
# Subtitle sidecars are read together with their video, never as sources of their own.
SUBTITLE_SUFFIXES: frozenset[str] = frozenset({".srt", ".vtt"})


def mime_type_for(path: Path) -> str | None:
    """The MIME type we load ``path`` as (by extension, case-insensitive), or ``None`` if unsupported."""
    return SUPPORTED_TYPES.get(path.suffix.lower())


def discover(paths: Iterable[str | Path], *, within: Sequence[Path] = ()) -> Iterator[Source | FileFailure]:
    """Yield one :class:`Source` per supported file under ``paths`` and a :class:`FileFailure` per problem.

    With ``within`` (folders), a file whose resolved path lies outside all of them (through a symlink, say)
    is a failure, not a source: the HTTP API confines server-side ingest to its allowed roots this way.
    """
    roots = [Path(root).resolve() for root in within]
    seen: set[str] = set()
    for arg in paths:
        for record in _expand(arg):
            key = record.source_id if isinstance(record, Source) else record.path
            if key in seen:
                continue
            seen.add(key)
            if roots and isinstance(record, Source) and not any(record.path.is_relative_to(r) for r in roots):
                record = _failure(record.path, "outside the allowed roots")
            yield record


def _failure(path: str | Path, reason: str) -> FileFailure:
    logger.debug("discover: %s: %s", path, reason)
    return FileFailure(path=str(path), reason=reason, stage=_STAGE)


def _is_glob(text: str) -> bool:
    return any(char in _GLOB_CHARS for char in text)


def _expand(arg: str | Path) -> Iterator[Source | FileFailure]:
    """One user argument: an existing path is taken literally; otherwise a pattern is globbed."""
    text = os.fspath(arg)
    path = Path(text).expanduser()
    if os.path.lexists(path):  # never raises; true for broken or looping symlinks too
        yield from _expand_path(path, explicit=True)
        return
    if not _is_glob(text):
        yield _failure(text, "no such file or directory")
        return
    matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
    if not matches:
        yield _failure(text, "no files match the pattern")
        return
    for match in matches:
        # A pattern that names a file matches it explicitly; directories it matches are walked.
        yield from _expand_path(Path(match), explicit=True)


def _expand_path(path: Path, *, explicit: bool) -> Iterator[Source | FileFailure]:
    try:
        st = path.stat()
    except FileNotFoundError:
        yield _failure(path.absolute(), "broken symbolic link" if path.is_symlink() else "no such file or directory")
        return
    except OSError as exc:
        yield _failure(path.absolute(), f"cannot access: {exc.strerror or exc}")
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk(path, visited=set())
    else:
        yield from _file_record(path, st, explicit=explicit)


def _file_record(path: Path, st: os.stat_result, *, explicit: bool) -> Iterator[Source | FileFailure]:
    resolved = path.resolve()
    if not stat.S_ISREG(st.st_mode):
        yield _failure(resolved, "not a regular file")
        return
    suffix = path.suffix.lower()
    if suffix in SUBTITLE_SUFFIXES:
        if explicit:
            yield _failure(resolved, f"unsupported file type '{suffix}' on its own (subtitles go with their video)")
        return
    mime = mime_type_for(path)
    if mime is None:
        reason = f"unsupported file type '{suffix}'" if suffix else "unsupported file type (no extension)"
        # Met while walking a directory it is only skipped; named on purpose it is a failure.
        yield FileFailure(path=str(resolved), reason=reason, stage=_STAGE if explicit else SKIPPED)
        return
    yield Source(path=resolved, source_id=resolved.as_posix(), mime_type=mime, size=st.st_size)


def _walk(root: Path, *, visited: set[tuple[int, int]]) -> Iterator[Source | FileFailure]:
    """Depth-first, sorted walk that follows directory symlinks but never enters a directory twice.

    Iterative (a stack of directory listings), so deep trees cannot exhaust the recursion limit.
    """
    stack: list[Iterator[os.DirEntry[str]]] = []
    listing = _list_dir(root, visited)
    if isinstance(listing, FileFailure):
        yield listing
        return
    stack.append(iter(listing))
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            continue
        child = Path(entry.path)
        try:
            child_st = entry.stat(follow_symlinks=True)
        except FileNotFoundError:
            yield _failure(child.absolute(), "broken symbolic link")
            continue
        except OSError as exc:
            yield _failure(child.absolute(), f"cannot access: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(child_st.st_mode):
            listing = _list_dir(child, visited, st=child_st)
            if isinstance(listing, FileFailure):
                yield listing
            else:
                stack.append(iter(listing))
        else:
            yield from _file_record(child, child_st, explicit=False)


def _list_dir(
    directory: Path, visited: set[tuple[int, int]], *, st: os.stat_result | None = None
) -> list[os.DirEntry[str]] | FileFailure:
    """Sorted entries of ``directory``; empty if it was visited before (a symlink loop)."""
    try:
        st = st if st is not None else directory.stat()
    except OSError as exc:
        return _failure(directory.absolute(), f"cannot access directory: {exc.strerror or exc}")
    key = (st.st_dev, st.st_ino)
    if key in visited:
        logger.debug("discover: %s was already visited (symlink loop?), skipping", directory)
        return []
    visited.add(key)
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda entry: entry.name)
    except OSError as exc:
        return _failure(directory.absolute(), f"cannot read directory: {exc.strerror or exc}")
