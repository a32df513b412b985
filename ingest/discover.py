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

Confined discovery (``within``, the HTTP API's server-side paths): every candidate — a named path, a glob
match, a directory entry — is resolved and checked against the roots (and away from ``excluded`` folders)
*before* it is reported, counted, listed or walked into, so nothing outside them is ever named or visited:

* a named path or pattern whose resolved form leaves the roots fails with "outside the allowed roots",
  whether or not its target exists (the two answers would otherwise tell which files exist);
* ``..`` segments are refused, and patterns are expanded here, one segment at a time, listing only folders
  that resolve under the roots (``glob`` itself follows links and ``..`` anywhere);
* a link met while walking that leads out is skipped under its own (in-root) name, never followed;
* :class:`WalkLimits` bound the names looked at and the seconds spent (discovery's own time, not the
  loading it feeds); past them a last record with ``stage="limit"`` says where it stopped.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import stat
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from rag.records import FileFailure, Source

__all__ = ["LIMIT", "SKIPPED", "SUBTITLE_SUFFIXES", "SUPPORTED_TYPES", "WalkLimits", "discover", "mime_type_for"]

logger = logging.getLogger(__name__)

_STAGE = "discover"
# Stage of unsupported files found inside a directory: reported as skipped, not as failures.
SKIPPED = "skip"
# Stage of the last record of a confined discovery that reached its walk limits.
LIMIT = "limit"
_GLOB_CHARS = frozenset("*?[")
OUTSIDE = "outside the allowed roots"
LINK_OUTSIDE = "link leads outside the allowed roots"

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
        ".mp3": "audio/mpeg",
        ".wav": "audio/wav",
        ".m4a": "audio/mp4",
        ".flac": "audio/flac",
        ".ogg": "audio/ogg",
        ".opus": "audio/opus",
    }
)
# Subtitle sidecars are read together with their video, never as sources of their own.
SUBTITLE_SUFFIXES: frozenset[str] = frozenset({".srt", ".vtt"})


def mime_type_for(path: Path) -> str | None:
    """The MIME type we load ``path`` as (by extension, case-insensitive), or ``None`` if unsupported."""
    return SUPPORTED_TYPES.get(path.suffix.lower())


@dataclass(frozen=True, slots=True)
class WalkLimits:
    """How much one confined discovery may look at: names (files and folders) and seconds of its own time."""

    max_entries: int
    max_seconds: float


def discover(
    paths: Iterable[str | Path],
    *,
    within: Sequence[Path] = (),
    excluded: Sequence[Path] = (),
    limits: WalkLimits | None = None,
) -> Iterator[Source | FileFailure]:
    """Yield one :class:`Source` per supported file under ``paths`` and a :class:`FileFailure` per problem.

    With ``within`` (folders) discovery is confined (see the module docstring): nothing that resolves outside
    them, or into an ``excluded`` folder, is read, walked or named; ``limits`` bound the walk.
    """
    scope = _Scope(within, excluded, limits)
    seen: set[str] = set()
    for arg in paths:
        records = _expand(arg, scope)
        while True:
            scope.resume()
            try:
                record = next(records, None)
            except _WalkStopped as stop:
                yield _failure(os.fspath(arg), str(stop), stage=LIMIT)
                return
            finally:
                scope.pause()
            if record is None:
                break
            key = record.source_id if isinstance(record, Source) else record.path
            if key in seen:
                continue
            seen.add(key)
            yield record


class _WalkStopped(Exception):
    """The walk limits were reached (the message says which)."""


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class _Scope:
    """Where a discovery may go (resolved roots, minus excluded folders) and how much of its budget is spent.

    The clock runs only while discovery itself runs (:func:`discover` pauses it while the consumer works on a
    record), so a long ingest of what was found never counts against the walk.
    """

    def __init__(self, within: Sequence[Path], excluded: Sequence[Path], limits: WalkLimits | None) -> None:
        self.roots = tuple(os.path.realpath(root) for root in within)
        self.excluded = tuple(os.path.realpath(folder) for folder in excluded) if self.roots else ()
        self.limits = limits
        self.entries = 0
        self.spent = 0.0
        self._since: float | None = None

    @property
    def confined(self) -> bool:
        return bool(self.roots)

    def allows(self, real: str) -> bool:
        """Whether a resolved path may be read, listed or named."""
        if not self.roots:
            return True
        return any(_under(real, root) for root in self.roots) and not any(_under(real, x) for x in self.excluded)

    def resume(self) -> None:
        self._since = time.monotonic()

    def pause(self) -> None:
        if self._since is not None:
            self.spent += time.monotonic() - self._since
            self._since = None

    def tick(self) -> None:
        """Count one name looked at; raises :class:`_WalkStopped` past the limits."""
        self.entries += 1
        limits = self.limits
        if limits is None:
            return
        if self.entries > limits.max_entries:
            raise _WalkStopped(
                f"stopped after {limits.max_entries} files and folders (RAG_API__MAX_WALK_FILES); "
                "ingest a narrower folder"
            )
        spent = self.spent + (time.monotonic() - self._since if self._since is not None else 0.0)
        if spent >= limits.max_seconds:
            raise _WalkStopped(
                f"stopped after {limits.max_seconds:g} s and {self.entries} files and folders "
                "(RAG_API__MAX_WALK_S); ingest a narrower folder"
            )


def _failure(path: str | Path, reason: str, *, stage: str = _STAGE) -> FileFailure:
    logger.debug("discover: %s: %s", path, reason)
    return FileFailure(path=str(path), reason=reason, stage=stage)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_glob(text: str) -> bool:
    return any(char in _GLOB_CHARS for char in text)


def _expand(arg: str | Path, scope: _Scope) -> Iterator[Source | FileFailure]:
    """One user argument: an existing path is taken literally; otherwise a pattern is globbed."""
    text = os.fspath(arg)
    path = Path(text).expanduser()
    if scope.confined:
        if ".." in path.parts:
            yield _failure(text, "'..' is not allowed in a server path")
            return
        # Resolved before anything is looked up: a link out gives the same answer whether its target exists.
        if not scope.allows(os.path.realpath(path)):
            yield _failure(text, OUTSIDE)
            return
    if os.path.lexists(path):  # never raises; true for broken or looping symlinks too
        yield from _expand_path(path, explicit=True, scope=scope)
        return
    if not _is_glob(text):
        yield _failure(text, "no such file or directory")
        return
    if scope.confined:
        matches = _confined_glob(path, scope)
    else:
        matches = [Path(match) for match in sorted(glob.glob(os.path.expanduser(text), recursive=True))]
    if not matches:
        yield _failure(text, "no files match the pattern")
        return
    for match in matches:
        # A pattern that names a file matches it explicitly; directories it matches are walked.
        yield from _expand_path(match, explicit=True, scope=scope)


def _expand_path(path: Path, *, explicit: bool, scope: _Scope) -> Iterator[Source | FileFailure]:
    real = os.path.realpath(path)
    if not scope.allows(real):
        yield _failure(path.absolute(), OUTSIDE)
        return
    try:
        st = path.stat()
    except FileNotFoundError:
        yield _failure(path.absolute(), "broken symbolic link" if path.is_symlink() else "no such file or directory")
        return
    except OSError as exc:
        yield _failure(path.absolute(), f"cannot access: {exc.strerror or exc}")
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk(path, real, scope, visited=set())
    else:
        yield from _file_record(path, st, explicit=explicit)


def _confined_glob(pattern: Path, scope: _Scope) -> list[Path]:
    """The matches of ``pattern`` (sorted), as ``glob.glob(recursive=True)`` finds them, but confined.

    Expanded one segment at a time from the pattern's fixed part: a folder is listed only when its resolved
    path is allowed, a match that is a link is resolved and checked before it is kept, every name listed
    counts against the walk limits, and ``**`` never enters a folder twice.
    """
    parts = pattern.parts
    fixed = next((i for i, part in enumerate(parts) if _is_glob(part)), len(parts))
    base = Path(*parts[:fixed])
    base_real = os.path.realpath(base)
    if not scope.allows(base_real):
        return []
    found: list[tuple[Path, str]] = [(base, base_real)]
    for index in range(fixed, len(parts)):
        segment, last = parts[index], index == len(parts) - 1
        following: list[tuple[Path, str]] = []
        for folder, real in found:
            if segment == "**":
                following.extend(_confined_tree(folder, real, scope, files=last))
            elif _is_glob(segment):
                following.extend(_confined_matches(folder, real, segment, scope, dirs_only=not last))
            else:
                scope.tick()
                child = folder / segment
                child_real = os.path.realpath(child)
                if os.path.lexists(child) and scope.allows(child_real) and (last or os.path.isdir(child)):
                    following.append((child, child_real))
        found = following
    return sorted({path for path, _ in found})


def _confined_entries(folder: Path, real: str, scope: _Scope) -> Iterator[tuple[os.DirEntry[str], str]]:
    """The allowed entries of an allowed folder, each with its resolved path (links are resolved, not trusted)."""
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:
        return
    for entry in entries:
        scope.tick()
        entry_real = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
        if scope.allows(entry_real):
            yield entry, entry_real


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _confined_matches(
    folder: Path, real: str, segment: str, scope: _Scope, *, dirs_only: bool
) -> Iterator[tuple[Path, str]]:
    hidden = segment.startswith(".")  # as glob: a wildcard never matches a leading dot
    for entry, entry_real in _confined_entries(folder, real, scope):
        if entry.name.startswith(".") and not hidden:
            continue
        if fnmatch.fnmatchcase(entry.name, segment) and (not dirs_only or _is_dir(entry)):
            yield folder / entry.name, entry_real


def _confined_tree(folder: Path, real: str, scope: _Scope, *, files: bool) -> Iterator[tuple[Path, str]]:
    """``**``: the folder and every folder under it (and every file, when ``**`` ends the pattern)."""
    visited: set[str] = set()
    stack = [(folder, real)]
    while stack:
        current, current_real = stack.pop()
        if current_real in visited:
            continue
        visited.add(current_real)
        yield current, current_real
        for entry, entry_real in _confined_entries(current, current_real, scope):
            if entry.name.startswith("."):
                continue
            if _is_dir(entry):
                stack.append((current / entry.name, entry_real))
            elif files:
                yield current / entry.name, entry_real


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
    if not _is_utf8(str(resolved)):
        # Ids, payloads and citations are UTF-8 text; a name in another encoding cannot be stored or cited.
        yield _failure(resolved, "the file name (or a folder's) is not valid UTF-8: rename it")
        return
    yield Source(path=resolved, source_id=resolved.as_posix(), mime_type=mime, size=st.st_size)


def _walk(root: Path, real: str, scope: _Scope, *, visited: set[tuple[int, int]]) -> Iterator[Source | FileFailure]:
    """Depth-first, sorted walk that follows directory symlinks but never enters a directory twice.

    Iterative (a stack of directory listings), so deep trees cannot exhaust the recursion limit. Each
    listing carries its folder's resolved path: an entry's own is that plus its name, unless it is a link,
    which is resolved and checked before it is followed or reported.
    """
    stack: list[tuple[Iterator[os.DirEntry[str]], str]] = []
    listing = _list_dir(root, visited)
    if isinstance(listing, FileFailure):
        yield listing
        return
    stack.append((iter(listing), real))
    while stack:
        entry = next(stack[-1][0], None)
        if entry is None:
            stack.pop()
            continue
        scope.tick()
        if entry.name.startswith("."):
            continue
        child = Path(entry.path)
        child_real = ""
        if scope.confined:
            link = entry.is_symlink()
            child_real = os.path.realpath(child) if link else os.path.join(stack[-1][1], entry.name)
            if not scope.allows(child_real):
                # Named by its in-root name only: where it leads, and whether that exists, is never told.
                reason = LINK_OUTSIDE if link else OUTSIDE
                yield FileFailure(path=str(child.absolute()), reason=reason, stage=SKIPPED)
                continue
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
                stack.append((iter(listing), child_real))
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
