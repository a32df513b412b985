"""Subtitle sidecars (``.srt``, ``.vtt``) read into timed cues, and the sidecar lookup for a video.

The parser is tolerant, as real subtitle files demand: byte-order marks, CRLF line ends, missing cue
numbers, ``,`` or ``.`` before the milliseconds, hours left out, WebVTT headers, notes, styles and cue
settings, and markup tags (``<i>``, ``<c.yellow>``, ``{\\an8}``) all parse; unreadable blocks are skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cue", "cues_between", "find_sidecars", "parse_subtitles", "read_subtitles", "text_between"]

SUFFIXES = (".vtt", ".srt")

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")


@dataclass(frozen=True, slots=True)
class Cue:
    start_s: float
    end_s: float
    text: str


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def parse_subtitles(text: str) -> list[Cue]:
    """Cues of an SRT or WebVTT document, sorted by start time."""
    cues: list[Cue] = []
    blocks = re.split(r"\n\s*\n", text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n"))
    for block in blocks:
        lines = block.strip().split("\n")
        for i, line in enumerate(lines):
            match = _TIMING.match(line)
            if match is None:
                continue
            g = match.groups()
            start, end = _seconds(*g[:4]), _seconds(*g[4:])
            body = " ".join(_TAG.sub("", part).strip() for part in lines[i + 1 :])
            body = " ".join(body.split())
            if body and end > start:
                cues.append(Cue(start, end, body))
            break
    return sorted(cues, key=lambda cue: (cue.start_s, cue.end_s))


def read_subtitles(path: Path) -> list[Cue]:
    """Cues of a sidecar file (UTF-8, with or without BOM; other bytes are replaced, not fatal)."""
    return parse_subtitles(path.read_bytes().decode("utf-8", errors="replace"))


def find_sidecars(video: Path) -> list[Path]:
    """Subtitle files that belong to ``video``: ``talk.vtt``, ``talk.srt``, then ``talk.<lang>.srt`` etc.

    Only files that are really in the video's folder count: a sidecar that is a link to elsewhere is
    ignored, so that a video inside a server's allowed roots never reads (and indexes) a file outside them.
    """
    folder = video.parent.resolve()
    exact = [video.with_suffix(suffix) for suffix in SUFFIXES]
    found = [p for p in exact if _beside(p, folder)]
    try:
        siblings = sorted(video.parent.iterdir())
    except OSError:
        return found
    prefix = video.stem + "."
    found += [
        p
        for p in siblings
        if p.suffix.lower() in SUFFIXES and p.name.startswith(prefix) and p not in found and _beside(p, folder)
    ]
    return found


def _beside(path: Path, folder: Path) -> bool:
    """A regular file whose resolved path lies directly in ``folder``."""
    return path.is_file() and Path(os.path.realpath(path)).parent == folder


def cues_between(cues: Iterable[Cue], start_s: float, end_s: float) -> list[Cue]:
    """The cues that overlap ``[start_s, end_s)``, in order; a line repeated by the next cue is one cue
    (spanning both)."""
    lines: list[Cue] = []
    for cue in cues:
        if cue.end_s > start_s and cue.start_s < end_s:
            if lines and lines[-1].text == cue.text:
                lines[-1] = Cue(lines[-1].start_s, max(lines[-1].end_s, cue.end_s), cue.text)
            else:
                lines.append(cue)
    return lines


def text_between(cues: Iterable[Cue], start_s: float, end_s: float) -> str:
    """The text of the cues that overlap ``[start_s, end_s)``, in order, without repeating a line."""
    return " ".join(cue.text for cue in cues_between(cues, start_s, end_s))
