"""The video loader on videos the tests make: windows, scene cuts, keyframes, frames, subtitles, bad files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ingest.chunking import Chunker
from ingest.discover import mime_type_for
from ingest.loaders.video import VideoLoader, clip_windows
from ingest.pipeline import _whitespace_spans
from rag.errors import SourceLoadError, UnsupportedSourceError
from rag.records import Item, Source
from rag.testing.videos import make_video, write_srt

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")


def _source(path: Path) -> Source:
    mime = mime_type_for(path)
    assert mime is not None
    return Source(path=path, source_id=str(path), mime_type=mime, size=path.stat().st_size)


def _loader(**kw: object) -> VideoLoader:
    return VideoLoader(Chunker(_whitespace_spans, 64, 8), **kw)  # type: ignore[arg-type]


def _kinds(items: list[Item], kind: str) -> list[Item]:
    return [i for i in items if i.kind == kind]


def test_clip_windows_cover_the_video_with_overlap() -> None:
    assert clip_windows(40, 15, 3) == [(0, 15), (12, 27), (24, 39), (36, 40)]
    assert clip_windows(10, 15, 3) == [(0, 10)]
    assert clip_windows(27, 15, 3) == [(0, 15), (12, 27)]
    assert clip_windows(0, 15, 3) == []


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mov", ".mkv"])
def test_every_container_gives_timed_clips_keyframes_and_frames(tmp_path: Path, suffix: str) -> None:
    video = make_video(tmp_path / f"v{suffix}", [("red", 5), ("blue", 5)])
    items = list(_loader(clip_s=4, overlap_s=1, frames_per_clip=4).load(_source(video)))
    keyframes, clips = _kinds(items, "keyframe"), _kinds(items, "clip")
    assert [(k.start_s, k.end_s) for k in keyframes] == [(0, 4), (3, 7), (6, 10)]
    assert [(c.start_s, c.end_s) for c in clips] == [(0, 4), (3, 7), (6, 10)]
    for clip in clips:
        assert clip.video is not None and clip.video.frames.shape == (4, 120, 160, 3)
        assert clip.video.fps == pytest.approx(1.0) and clip.image_of == f"{clip.locator}/keyframe"
        assert clip.extra == {"fps": clip.video.fps, "frame_count": 4}
    red, _, blue = (k.image.getpixel((80, 60)) for k in keyframes)  # type: ignore[union-attr]
    assert red[0] > 200 > red[2] and blue[2] > 200 > blue[0]


def test_scene_split_cuts_where_the_colour_changes(tmp_path: Path) -> None:
    video = make_video(tmp_path / "scenes.mp4", [("red", 6), ("blue", 3), ("green", 9)])
    items = list(_loader(split="scenes", clip_s=8, overlap_s=2).load(_source(video)))
    spans = [(k.start_s, k.end_s) for k in _kinds(items, "keyframe")]
    assert spans == [(0, 6), (6, 9), (9, 17), (15, 18)]


def test_without_a_video_model_only_keyframes_are_decoded(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", [("red", 3)])
    items = list(_loader(embed_video=False).load(_source(video)))
    assert [i.kind for i in items] == ["keyframe"]


def test_subtitle_text_goes_with_its_clip(tmp_path: Path) -> None:
    video = make_video(tmp_path / "talk.mp4", [("red", 4), ("blue", 4)])
    write_srt(tmp_path / "talk.srt", [(0.5, 2.0, "the battery warranty"), (5.0, 7.5, "ten years on parts")])
    items = list(_loader(clip_s=4, overlap_s=0).load(_source(video)))
    texts = [(t.start_s, t.end_s, t.text, t.image_of) for t in _kinds(items, "text")]
    assert texts == [
        (0, 4, "the battery warranty", "clip-00000/keyframe"),
        (4, 8, "ten years on parts", "clip-00001/keyframe"),
    ]


def test_large_frames_are_capped(tmp_path: Path) -> None:
    video = make_video(tmp_path / "big.mp4", [("white", 2)], size=(1280, 720))
    items = list(
        _loader(frames_per_clip=2, max_frame_pixels=160 * 90, keyframe_max_pixels=640 * 360).load(_source(video))
    )
    (keyframe,) = _kinds(items, "keyframe")
    (clip,) = _kinds(items, "clip")
    assert keyframe.image is not None and keyframe.image.width * keyframe.image.height <= 640 * 360
    assert clip.video is not None and clip.video.frames.shape[1] * clip.video.frames.shape[2] <= 160 * 90


def _audio_only(path: Path) -> Path:
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(path)]
    subprocess.run(command, check=True)
    return path


def test_bad_videos_fail_with_a_clear_reason(tmp_path: Path) -> None:
    good = make_video(tmp_path / "good.mp4", [("red", 20)], pattern=True)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.mkv"
    garbage.write_bytes(bytes(range(256)) * 40)
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    cases = {
        truncated: (SourceLoadError, "truncated"),
        garbage: (SourceLoadError, "not a readable video"),
        _audio_only(tmp_path / "audio.mp4"): (SourceLoadError, "no video stream"),
        empty: (UnsupportedSourceError, "empty file"),
    }
    for path, (error, reason) in cases.items():
        with pytest.raises(error, match=reason) as caught:
            list(_loader().load(_source(path)))
        assert caught.value.source == str(path)


def test_videos_over_the_length_cap_are_refused(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", [("red", 3)])
    with pytest.raises(SourceLoadError, match="over the cap"):
        list(_loader(max_duration_s=2).load(_source(video)))


def test_subtitle_text_knows_each_lines_times(tmp_path: Path) -> None:
    """A clip's subtitle text keeps where each line is and when it is said, so a citation of one line narrows to
    its times; a line repeated by the next cue is one line spanning both."""
    from rag.regions import ANCHORS

    video = make_video(tmp_path / "talk.mp4", [("red", 8)])
    cues = [(0.5, 2.0, "the battery warranty"), (2.0, 3.0, "the battery warranty"), (5.0, 7.5, "ten years on parts")]
    write_srt(tmp_path / "talk.srt", cues)
    [text] = _kinds(list(_loader(clip_s=8, overlap_s=0).load(_source(video))), "text")
    assert text.text == "the battery warranty ten years on parts"
    assert [tuple(a) for a in text.extra[ANCHORS]] == [(0, 20, 0.5, 3.0), (21, 39, 5.0, 7.5)]
