"""Audio files made on the spot with the ffmpeg command line (tests and benchmarks; no downloads).

Tones and silence come from ffmpeg's ``sine`` and ``anullsrc`` sources; speech from Debian's ``espeak-ng``
when it is installed (:func:`speak`; tests that need it skip without it).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from rag.testing.videos import _ffmpeg

__all__ = ["make_audio", "make_video_with_audio", "speak"]

_CODECS = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "32k"],
    ".wav": ["-c:a", "pcm_s16le"],
    ".m4a": ["-c:a", "aac", "-b:a", "32k"],
    ".flac": ["-c:a", "flac"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "0"],
    ".opus": ["-c:a", "libopus", "-b:a", "16k"],
}


def _sources(segments: Sequence[tuple[str, float]], rate: int) -> list[str]:
    """ffmpeg inputs for ``[("tone", 2.0), ("silence", 1.0), ("tone:880", 1.5)]``."""
    inputs: list[str] = []
    for kind, seconds in segments:
        if kind.startswith("tone"):
            frequency = kind.partition(":")[2] or "440"
            inputs += ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate={rate}:duration={seconds}"]
        elif kind == "silence":
            inputs += ["-f", "lavfi", "-t", str(seconds), "-i", f"anullsrc=channel_layout=mono:sample_rate={rate}"]
        else:
            raise ValueError(f"unknown audio segment {kind!r} (tone, tone:<hz>, silence)")
    return inputs


def make_audio(
    path: Path, segments: Sequence[tuple[str, float]] = (("tone", 2.0), ("silence", 1.0)), *, rate: int = 22050
) -> Path:
    """Write mono audio of tones and silences (``[("tone", 2.0), ("silence", 1.0)]``); the codec follows the suffix."""
    inputs = _sources(segments, rate)
    joined = "".join(f"[{i}:a]" for i in range(len(segments)))
    graph = ["-filter_complex", f"{joined}concat=n={len(segments)}:v=0:a=1[a]", "-map", "[a]"]
    codec = _CODECS.get(path.suffix.lower(), _CODECS[".wav"])
    command = [_ffmpeg(), "-loglevel", "error", "-y", *inputs, *graph, *codec, str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path


def make_video_with_audio(path: Path, seconds: float, *, size: tuple[int, int] = (160, 120), fps: int = 10) -> Path:
    """A video of ffmpeg's test pattern with a tone soundtrack (H.264 + AAC in MP4)."""
    width, height = size
    command = [
        _ffmpeg(),
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=16000:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return path


def speak(path: Path, text: str) -> Path:
    """Speech read by ``espeak-ng`` into ``path`` (re-encoded by ffmpeg for non-WAV suffixes)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    wav = path.with_suffix(".espeak.wav")
    subprocess.run([espeak, "-w", str(wav), text], check=True, capture_output=True)
    if path.suffix.lower() == ".wav":
        wav.replace(path)
        return path
    codec = _CODECS.get(path.suffix.lower(), _CODECS[".wav"])
    subprocess.run([_ffmpeg(), "-loglevel", "error", "-y", "-i", str(wav), *codec, str(path)], check=True)
    wav.unlink()
    return path
