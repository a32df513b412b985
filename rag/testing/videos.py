"""Videos and subtitles made on the spot with the ffmpeg command line (tests and benchmarks; no downloads)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["make_video", "write_srt", "write_vtt"]

_CODECS = {
    ".mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
    ".mov": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    ".mkv": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    ".webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"],
}


def _ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise RuntimeError("ffmpeg is not installed (Debian: apt-get install ffmpeg)")
    return found


def make_video(
    path: Path,
    segments: Sequence[tuple[str, float]] = (("red", 4.0), ("blue", 4.0)),
    *,
    size: tuple[int, int] = (160, 120),
    fps: int = 10,
    pattern: bool = False,
) -> Path:
    """Write a video of solid-colour segments (``[("red", 4.0), ...]``), or of ffmpeg's moving test
    pattern for the total length when ``pattern`` is true. The codec follows the suffix."""
    width, height = size
    inputs: list[str] = []
    if pattern:
        total = sum(seconds for _, seconds in segments)
        inputs += ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={total}"]
        graph = ["-map", "0:v"]
    else:
        for colour, seconds in segments:
            inputs += ["-f", "lavfi", "-i", f"color=c={colour}:size={width}x{height}:rate={fps}:duration={seconds}"]
        joined = "".join(f"[{i}:v]" for i in range(len(segments)))
        graph = ["-filter_complex", f"{joined}concat=n={len(segments)}:v=1:a=0[v]", "-map", "[v]"]
    codec = _CODECS.get(path.suffix.lower(), _CODECS[".mp4"])
    command = [_ffmpeg(), "-loglevel", "error", "-y", *inputs, *graph, *codec, str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path


def _stamp(seconds: float, sep: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def write_srt(path: Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    blocks = [f"{i}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1)]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def write_vtt(path: Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    blocks = [f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{text}\n" for a, b, text in cues]
    path.write_text("WEBVTT\n\n" + "\n".join(blocks), encoding="utf-8")
    return path
