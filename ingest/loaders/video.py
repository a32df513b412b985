"""Video files: time-stamped clips, each with a keyframe, a sampled-frame clip and its subtitle text.

For each clip window (fixed length with overlap, or cut at scene changes) the loader yields:

* ``keyframe`` (image vector): the frame in the middle of the clip, stored and shown with the clip;
* ``clip`` (video vector): ``frames_per_clip`` frames sampled evenly across the window, when the profile
  has a model with a video modality (Qwen3-VL-Embedding); otherwise keyframes only;
* ``text`` (text vector): the subtitle text of the window, when a ``.srt``/``.vtt`` sidecar exists; else,
  with a speech recogniser, what is said in the window (``transcribe="auto"``; ``"always"``: both).

After the clips, with an audio model, the soundtrack in fixed windows of that model's length (``sound`` points,
audio vector, :mod:`ingest.sounds`), each shown with the keyframe of the clip it falls in.

Each carries ``start_s``/``end_s``, so hits cite ``talk.mp4 01:20–01:35``. Decoding streams through
torchcodec: only the frames of the current clip are ever decoded and held, so memory stays flat whatever
the video's length.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ingest.imaging import fit_pixels
from ingest.loaders.base import require_nonempty
from ingest.sounds import Sounds
from ingest.subtitles import Cue, cues_between, find_sidecars, read_subtitles
from ingest.transcripts import Soundtrack
from rag.errors import SourceLoadError
from rag.records import Anchor, Item, Source, VideoClip
from rag.regions import ANCHORS, chunk_anchors, time_anchors

if TYPE_CHECKING:
    from ingest.chunking import Chunker
    from rag.embedder import AudioFormat
    from rag.speech import SpeechRecognizer

__all__ = ["VideoLoader", "clip_windows"]

log = logging.getLogger(__name__)

Split = Literal["fixed", "scenes"]
Transcribe = Literal["auto", "always", "never"]

_SCENE_FPS = 2.0  # frames per second examined for scene changes
_SCENE_SIDE = 16  # they are compared as colour thumbnails of this size
_SCENE_BATCH = 32


@dataclass(frozen=True, slots=True)
class _Info:
    duration_s: float
    begin_s: float
    fps: float | None
    width: int
    height: int
    codec: str | None


def clip_windows(duration_s: float, clip_s: float, overlap_s: float) -> list[tuple[float, float]]:
    """Fixed windows of ``clip_s`` seconds, each starting ``clip_s - overlap_s`` after the last.

    The last window ends at the end of the video; no window lies wholly inside the one before it.
    """
    if duration_s <= 0:
        return []
    step = clip_s - overlap_s
    windows: list[tuple[float, float]] = []
    start = 0.0
    while True:
        end = min(start + clip_s, duration_s)
        windows.append((round(start, 3), round(end, 3)))
        if end >= duration_s:
            return windows
        start += step


class VideoLoader:
    name = "video"
    mime_types = frozenset({"video/mp4", "video/webm", "video/quicktime", "video/x-matroska"})

    def __init__(
        self,
        chunker: Chunker,
        *,
        clip_s: float = 15.0,
        overlap_s: float = 3.0,
        frames_per_clip: int = 8,
        max_frame_pixels: int = 448 * 448,
        keyframe_max_pixels: int = 1280 * 28 * 28,
        embed_video: bool = True,
        split: Split = "fixed",
        scene_threshold: float = 0.2,
        min_clip_s: float = 2.0,
        max_duration_s: float = 6 * 3600,
        recognizer: SpeechRecognizer | None = None,
        transcribe: Transcribe = "auto",
        language: str | None = None,
        sound: AudioFormat | None = None,
    ) -> None:
        if not 0 <= overlap_s < clip_s:
            raise ValueError("overlap_s must be at least 0 and less than clip_s")
        self.chunker = chunker
        self.clip_s = clip_s
        self.overlap_s = overlap_s
        self.frames_per_clip = max(1, frames_per_clip)
        self.max_frame_pixels = max_frame_pixels
        self.keyframe_max_pixels = keyframe_max_pixels
        self.embed_video = embed_video
        self.split = split
        self.scene_threshold = scene_threshold
        self.min_clip_s = min_clip_s
        self.max_duration_s = max_duration_s
        self.recognizer = recognizer
        self.transcribe = transcribe
        self.language = language
        self.sound = sound

    # -- public ----------------------------------------------------------------------------------

    def load(self, source: Source) -> Iterator[Item]:
        require_nonempty(source.path)
        decoder, info = self._open(source.path)
        if info.duration_s > self.max_duration_s:
            raise SourceLoadError(
                f"video is {info.duration_s / 3600:.1f} h long, over the cap of {self.max_duration_s / 3600:g} h "
                "(video.max_duration_s)",
                source=str(source.path),
            )
        cues = self._subtitles(source.path)
        speech = self._speech(source.path, info, has_subtitles=bool(cues))
        windows = self._windows(decoder, info, source.path)
        title = source.path.stem or source.path.name
        for index, (start, end) in enumerate(windows):
            yield from self._clip_items(decoder, info, source.path, index, start, end, cues, title)
            if speech is not None:
                yield from speech.items(index, start, end, title)
        yield from self._sound_items(source.path, info, windows, title)

    def _sound_items(self, path: Path, info: _Info, windows: list[tuple[float, float]], title: str) -> Iterator[Item]:
        """The soundtrack's windows for the audio vector (with an audio model), in video time."""
        if self.sound is None:
            return
        try:
            sounds = Sounds(
                path,
                self.sound,
                max_duration_s=self.max_duration_s,
                setting="video.max_duration_s",
                origin_s=info.begin_s,
            )
        except SourceLoadError as exc:
            log.info("%s: no sound points: %s", path, exc.message)  # a silent video still has its pictures
            return
        for n, (start, end, clip) in enumerate(sounds.windows()):
            if start >= info.duration_s:
                return  # a soundtrack that outlasts the pictures: nothing to show with it
            middle = (start + end) / 2
            index = next((i for i, (a, b) in enumerate(windows) if a <= middle < b), len(windows) - 1)
            yield Item(
                kind="sound",
                locator=f"sound-{n:05d}",
                audio=clip,
                start_s=start,
                end_s=min(end, round(info.duration_s, 3)),
                image_of=f"clip-{index:05d}/keyframe",
                title=title,
            )

    def _speech(self, path: Path, info: _Info, *, has_subtitles: bool) -> _SpokenText | None:
        """The soundtrack's transcript, read along with the clips; None without a recogniser or soundtrack,
        or when a subtitle sidecar already says what is said (unless ``transcribe="always"``)."""
        if self.recognizer is None or self.transcribe == "never" or (has_subtitles and self.transcribe == "auto"):
            return None
        try:
            track = Soundtrack(
                path,
                self.recognizer,
                language=self.language,
                max_duration_s=self.max_duration_s,
                setting="video.max_duration_s",
            )
        except SourceLoadError as exc:
            # A silent video (no audio stream) or a damaged soundtrack still has its pictures.
            log.info("%s: soundtrack not transcribed: %s", path, exc.message)
            return None
        return _SpokenText(track, self.chunker, begin_s=info.begin_s - track.begin_s)

    # -- decoding --------------------------------------------------------------------------------

    def _open(self, path: Path) -> tuple[Any, _Info]:
        from torchcodec.decoders import VideoDecoder

        source = str(path)
        try:
            probe = VideoDecoder(path, dimension_order="NHWC", seek_mode="approximate")
            meta = probe.metadata
        except ValueError as exc:
            raise SourceLoadError("no video stream in the file (audio only?)", source=source) from exc
        except RuntimeError as exc:
            raise SourceLoadError(
                f"not a readable video (corrupt, truncated or unknown format): {_why(exc)}", source=source
            ) from exc
        width, height = int(meta.width or 0), int(meta.height or 0)
        begin = float(meta.begin_stream_seconds or 0.0)
        end = meta.end_stream_seconds if meta.end_stream_seconds is not None else meta.duration_seconds
        duration = float(end or 0.0) - begin
        if not width or not height or duration <= 0 or (meta.num_frames is not None and meta.num_frames == 0):
            raise SourceLoadError("the video has no frames (zero length)", source=source)
        info = _Info(duration, begin, meta.average_fps, width, height, meta.codec)
        # Decode straight to the keyframe size when the source is larger: cheaper, and memory stays small.
        transforms = None
        if width * height > self.keyframe_max_pixels:
            from torchcodec.transforms import Resize

            scale = math.sqrt(self.keyframe_max_pixels / (width * height))
            transforms = [Resize(size=(max(2, int(height * scale) // 2 * 2), max(2, int(width * scale) // 2 * 2)))]
        try:
            decoder = VideoDecoder(path, dimension_order="NHWC", seek_mode="approximate", transforms=transforms)
        except (RuntimeError, ValueError) as exc:
            raise SourceLoadError(
                f"cannot decode video ({meta.codec or 'unknown codec'}): {_why(exc)}", source=source
            ) from exc
        return decoder, info

    def _frames_at(self, decoder: Any, info: _Info, times: list[float], path: Path) -> np.ndarray:
        last = info.begin_s + info.duration_s - 1e-3
        clamped = [min(max(t, info.begin_s), last) for t in times]
        try:
            batch = decoder.get_frames_played_at(seconds=clamped)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise SourceLoadError(
                f"corrupt or truncated video near {clamped[0]:.1f}s: {_why(exc)}", source=str(path)
            ) from exc
        return np.ascontiguousarray(batch.data.numpy())

    # -- windows ---------------------------------------------------------------------------------

    def _windows(self, decoder: Any, info: _Info, path: Path) -> list[tuple[float, float]]:
        fixed = clip_windows(info.duration_s, self.clip_s, self.overlap_s)
        if self.split == "fixed":
            return fixed
        cuts = self._scene_cuts(decoder, info, path)
        windows: list[tuple[float, float]] = []
        bounds = [0.0, *cuts, info.duration_s]
        for start, end in itertools.pairwise(bounds):
            # Long scenes are split like a fixed window; the windows stay inside the scene.
            windows.extend((start + a, start + b) for a, b in clip_windows(end - start, self.clip_s, self.overlap_s))
        return windows or fixed

    def _scene_cuts(self, decoder: Any, info: _Info, path: Path) -> list[float]:
        """Times where the picture changes a lot: the mean absolute difference of two colour thumbnails,
        half a second apart, over ``scene_threshold`` (0-1)."""
        from PIL import Image

        times = [i / _SCENE_FPS for i in range(int(info.duration_s * _SCENE_FPS))]
        cuts: list[float] = []
        previous: np.ndarray | None = None
        for offset in range(0, len(times), _SCENE_BATCH):
            chunk = times[offset : offset + _SCENE_BATCH]
            frames = self._frames_at(decoder, info, [info.begin_s + t for t in chunk], path)
            for t, frame in zip(chunk, frames, strict=True):
                small = Image.fromarray(frame).resize((_SCENE_SIDE, _SCENE_SIDE), Image.Resampling.BILINEAR)
                thumb = np.asarray(small, dtype=np.float32) / 255.0
                if previous is not None:
                    change = float(np.abs(thumb - previous).mean())
                    last = cuts[-1] if cuts else 0.0
                    if change > self.scene_threshold and t - last >= self.min_clip_s:
                        cuts.append(round(t, 3))
                previous = thumb
        return [c for c in cuts if info.duration_s - c >= self.min_clip_s]

    # -- one clip --------------------------------------------------------------------------------

    def _clip_items(
        self,
        decoder: Any,
        info: _Info,
        path: Path,
        index: int,
        start: float,
        end: float,
        cues: list[Cue],
        title: str,
    ) -> Iterator[Item]:
        from PIL import Image

        count = self.frames_per_clip if self.embed_video else 1
        length = end - start
        times = [info.begin_s + start + (j + 0.5) * length / count for j in range(count)]
        frames = self._frames_at(decoder, info, times, path)
        keyframe = fit_pixels(Image.fromarray(frames[len(frames) // 2]), self.keyframe_max_pixels)
        base = f"clip-{index:05d}"
        key_locator = f"{base}/keyframe"
        common: dict[str, Any] = {"start_s": round(start, 3), "end_s": round(end, 3), "title": title}
        yield Item(kind="keyframe", locator=key_locator, image=keyframe, **common)
        if self.embed_video:
            clip = VideoClip(frames=self._fit_frames(frames), fps=round(count / length, 4) if length > 0 else 1.0)
            yield Item(
                kind="clip",
                locator=base,
                video=clip,
                image_of=key_locator,
                extra={"fps": clip.fps, "frame_count": int(clip.frames.shape[0])},
                **common,
            )
        lines = cues_between(cues, start, end)
        text, anchors = _timed_text(lines)
        for n, chunk in enumerate(self.chunker.chunk(text) if text else []):
            yield Item(
                kind="text",
                locator=f"{base}/subtitles-{n}",
                text=chunk.text,
                image_of=key_locator,
                extra={ANCHORS: chunk_anchors(anchors, chunk.start, chunk.end)},
                **common,
            )

    def _fit_frames(self, frames: np.ndarray) -> np.ndarray:
        from PIL import Image

        _, height, width, _ = frames.shape
        if height * width <= self.max_frame_pixels:
            return frames
        fitted = [np.asarray(fit_pixels(Image.fromarray(f), self.max_frame_pixels)) for f in frames]
        return np.stack(fitted)

    def _subtitles(self, path: Path) -> list[Cue]:
        for sidecar in find_sidecars(path):
            try:
                cues = read_subtitles(sidecar)
            except OSError:
                continue
            if cues:
                return cues
        return []


class _SpokenText:
    """A soundtrack's segments pulled as the clips advance: only those of the current clip are held."""

    def __init__(self, track: Soundtrack, chunker: Chunker, *, begin_s: float) -> None:
        self.track = track
        self.chunker = chunker
        self.shift = begin_s  # video time = soundtrack time - shift (both streams rarely start together)
        self._segments = track.segments()
        self._held: list[Cue] = []
        self._exhausted = False

    def items(self, index: int, start: float, end: float, title: str) -> Iterator[Item]:
        while not self._exhausted and (not self._held or self._held[-1].start_s < end):
            segment = next(self._segments, None)
            if segment is None:
                self._exhausted = True
                break
            self._held.append(Cue(segment.start_s - self.shift, segment.end_s - self.shift, segment.text))
        self._held = [cue for cue in self._held if cue.end_s > start]
        text, anchors = _timed_text(cues_between(self._held, start, end))
        base = f"clip-{index:05d}"
        extra = {"language": self.track.language, "speech_model": self.track.recognizer.model_id}
        common: dict[str, Any] = {"start_s": round(start, 3), "end_s": round(end, 3), "title": title}
        for n, chunk in enumerate(self.chunker.chunk(text) if text else []):
            yield Item(
                kind="text",
                locator=f"{base}/speech-{n}",
                text=chunk.text,
                image_of=f"{base}/keyframe",
                extra={**extra, ANCHORS: chunk_anchors(anchors, chunk.start, chunk.end)},
                **common,
            )


def _timed_text(lines: list[Cue]) -> tuple[str, list[Anchor]]:
    """The text of a window's subtitle or transcript lines, and where each line is in it with its times, so a
    citation of one line narrows to that line's times (:mod:`rag.regions`)."""
    return " ".join(cue.text for cue in lines), time_anchors([(cue.text, cue.start_s, cue.end_s) for cue in lines])


def _why(exc: BaseException) -> str:
    """The useful last part of a torchcodec/FFmpeg message (they start with C++ source locations)."""
    text = " ".join(str(exc).split())
    return text.rsplit(", ", 1)[-1][:200] if ", " in text else text[:200]
