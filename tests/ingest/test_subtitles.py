"""Subtitle parsing (SRT and WebVTT, as found in the wild) and sidecar lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.subtitles import Cue, find_sidecars, parse_subtitles, read_subtitles, text_between
from rag.testing.videos import write_srt, write_vtt

SRT = (
    "\ufeff1\r\n00:00:01,000 --> 00:00:04,500\r\n<i>Hello</i> there\r\nsecond line\r\n\r\n"
    "2\r\n00:01:02,05 --> 00:01:03,000\r\n{\\an8}Top\r\n"
)
VTT = """WEBVTT - a title

NOTE a comment block
that spans lines

STYLE
::cue { color: yellow }

intro
00:01.000 --> 00:04.500 align:start position:10%
<c.yellow>Hello</c> there

1:00:00.000 --> 1:00:02.000
An hour in
"""


def test_srt_with_bom_crlf_tags_and_short_millis() -> None:
    assert parse_subtitles(SRT) == [Cue(1.0, 4.5, "Hello there second line"), Cue(62.05, 63.0, "Top")]


def test_vtt_with_header_notes_styles_ids_settings_and_hours() -> None:
    assert parse_subtitles(VTT) == [Cue(1.0, 4.5, "Hello there"), Cue(3600.0, 3602.0, "An hour in")]


@pytest.mark.parametrize("bad", ["", "not subtitles at all", "1\n00:00:05,000 --> 00:00:01,000\nbackwards\n"])
def test_unusable_input_gives_no_cues(bad: str) -> None:
    assert parse_subtitles(bad) == []


def test_writers_round_trip(tmp_path: Path) -> None:
    cues = [(0.5, 2.0, "one"), (61.25, 65.0, "two")]
    for path in (write_srt(tmp_path / "a.srt", cues), write_vtt(tmp_path / "a.vtt", cues)):
        assert read_subtitles(path) == [Cue(*cue) for cue in cues]


def test_text_between_takes_overlapping_cues_once() -> None:
    cues = [Cue(0, 2, "a"), Cue(2, 4, "b"), Cue(4, 6, "b"), Cue(9, 10, "c")]
    assert text_between(cues, 1, 5) == "a b"
    assert text_between(cues, 6, 9) == ""
    assert text_between(cues, 0, 100) == "a b c"


def test_sidecars_exact_name_first_then_language_variants(tmp_path: Path) -> None:
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"x")
    for name in ("talk.en.srt", "talk.srt", "talk.vtt", "talkative.srt", "other.vtt", "talk.de.vtt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in find_sidecars(video)] == ["talk.vtt", "talk.srt", "talk.de.vtt", "talk.en.srt"]


def test_a_sidecar_that_links_out_of_the_video_folder_is_not_read(tmp_path: Path) -> None:
    # A video inside a server's allowed root must not pull in a file from elsewhere as its "subtitles".
    secret = tmp_path / "secret.txt"
    secret.write_text("1\n00:00:00,000 --> 00:00:01,000\nthe password\n")
    folder = tmp_path / "videos"
    folder.mkdir()
    video = folder / "talk.mp4"
    video.write_bytes(b"x")
    (folder / "talk.srt").symlink_to(secret)
    (folder / "talk.en.vtt").symlink_to(secret)
    (folder / "talk.de.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHallo\n")
    (folder / "talk.fr.srt").symlink_to(folder / "talk.de.srt")  # a link within the folder is fine
    assert [p.name for p in find_sidecars(video)] == ["talk.de.srt", "talk.fr.srt"]
