from __future__ import annotations

import os
from pathlib import Path

import pytest

import ingest
from ingest.discover import discover
from rag.records import FileFailure, Source


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def split(records: list[Source | FileFailure]) -> tuple[list[Source], list[FileFailure]]:
    sources = [r for r in records if isinstance(r, Source)]
    failures = [r for r in records if isinstance(r, FileFailure)]
    assert len(sources) + len(failures) == len(records)
    return sources, failures


def names(sources: list[Source], root: Path) -> list[str]:
    return [s.path.relative_to(root.resolve()).as_posix() for s in sources]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    touch(root / "b.md", b"# B")
    touch(root / "a.txt", b"hello")
    touch(root / "sub" / "page.HTML")
    touch(root / "sub" / "deep" / "photo.JPG")
    touch(root / "sub" / "deep" / "report.pdf")
    touch(root / "talk.mp4")
    touch(root / "talk.srt")
    touch(root / "talk.vtt")
    touch(root / "data.xyz")
    touch(root / "Makefile")
    touch(root / ".hidden.txt")
    touch(root / ".git" / "config.txt")
    return root


def test_directory_is_walked_recursively_in_sorted_order(tree: Path) -> None:
    sources, failures = split(list(discover([tree])))
    assert names(sources, tree) == [
        "a.txt",
        "b.md",
        "sub/deep/photo.JPG",
        "sub/deep/report.pdf",
        "sub/page.HTML",
        "talk.mp4",
    ]
    by_name = {s.path.name: s for s in sources}
    assert by_name["a.txt"].mime_type == "text/plain"
    assert by_name["b.md"].mime_type == "text/markdown"
    assert by_name["page.HTML"].mime_type == "text/html"
    assert by_name["photo.JPG"].mime_type == "image/jpeg"
    assert by_name["report.pdf"].mime_type == "application/pdf"
    assert by_name["talk.mp4"].mime_type == "video/mp4"
    # Hidden entries and subtitle sidecars are not reported; unknown types are, as unsupported.
    assert sorted((Path(f.path).name, f.reason, f.stage) for f in failures) == [
        ("Makefile", "unsupported file type (no extension)", "skip"),
        ("data.xyz", "unsupported file type '.xyz'", "skip"),
    ]


def test_source_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = touch(tmp_path / "notes.md", b"12345")
    monkeypatch.chdir(tmp_path)
    [source] = list(discover(["notes.md"]))
    assert isinstance(source, Source)
    assert source.path == path.resolve() and source.path.is_absolute()
    assert source.source_id == path.resolve().as_posix()
    assert (source.mime_type, source.size, source.name) == ("text/markdown", 5, "notes.md")


@pytest.mark.parametrize(
    ("name", "mime"),
    [("x.markdown", "text/markdown"), ("x.rst", "text/x-rst"), ("x.htm", "text/html"), ("x.webp", "image/webp"),
     ("x.gif", "image/gif"), ("x.bmp", "image/bmp"), ("x.tif", "image/tiff"), ("x.tiff", "image/tiff"),
     ("x.png", "image/png"), ("x.jpeg", "image/jpeg"), ("x.webm", "video/webm"), ("x.mov", "video/quicktime"),
     ("x.mkv", "video/x-matroska")],
)  # fmt: skip
def test_mime_types(tmp_path: Path, name: str, mime: str) -> None:
    [source] = list(discover([touch(tmp_path / name)]))
    assert isinstance(source, Source) and source.mime_type == mime


def test_glob_patterns(tree: Path) -> None:
    sources, failures = split(list(discover([f"{tree}/**/*.pdf", f"{tree}/*.md"])))
    assert names(sources, tree) == ["sub/deep/report.pdf", "b.md"]
    assert not failures


def test_glob_matching_a_directory_walks_it(tree: Path) -> None:
    sources, _ = split(list(discover([f"{tree}/su*"])))
    assert names(sources, tree) == ["sub/deep/photo.JPG", "sub/deep/report.pdf", "sub/page.HTML"]


def test_missing_path_and_empty_glob_are_reported(tmp_path: Path) -> None:
    missing, pattern = str(tmp_path / "nope.txt"), str(tmp_path / "*.nothing")
    assert list(discover([missing, pattern])) == [
        FileFailure(path=missing, reason="no such file or directory", stage="discover"),
        FileFailure(path=pattern, reason="no files match the pattern", stage="discover"),
    ]


def test_explicit_files_are_taken_even_when_hidden_but_not_when_unsupported(tmp_path: Path) -> None:
    hidden = touch(tmp_path / ".secret.txt")
    odd = touch(tmp_path / "table.csv")
    subtitle = touch(tmp_path / "talk.srt")
    sources, failures = split(list(discover([hidden, odd, subtitle])))
    assert [s.path for s in sources] == [hidden.resolve()]
    assert [(f.path, f.reason, f.stage) for f in failures] == [
        (str(odd.resolve()), "unsupported file type '.csv'", "discover"),
        (
            str(subtitle.resolve()),
            "unsupported file type '.srt' on its own (subtitles go with their video)",
            "discover",
        ),
    ]


def test_each_file_is_reported_once(tree: Path) -> None:
    link = tree.parent / "alias.txt"
    link.symlink_to(tree / "a.txt")
    records = list(discover([tree / "a.txt", tree, str(tree / "*.txt"), link, tree / "sub" / ".." / "a.txt"]))
    sources, failures = split(records)
    assert len(sources) == 6 and len({s.source_id for s in sources}) == 6
    assert sources[0].path == (tree / "a.txt").resolve()
    assert len(failures) == 2  # data.xyz and Makefile, once each


def test_symlink_loops_terminate(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / "a" / "doc.txt")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(".", target_is_directory=True)
    sources, failures = split(list(discover([root])))
    assert [s.path for s in sources] == [(root / "a" / "doc.txt").resolve()]
    assert not failures


def test_broken_symlink_and_special_files_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / "ok.txt")
    (root / "dangling.txt").symlink_to(root / "missing.txt")
    os.mkfifo(root / "pipe.txt")  # opening it would block; discovery must not
    (root / "loop1.txt").symlink_to(root / "loop2.txt")
    (root / "loop2.txt").symlink_to(root / "loop1.txt")
    sources, failures = split(list(discover([root])))
    assert [s.path.name for s in sources] == ["ok.txt"]
    assert sorted((Path(f.path).name, f.reason) for f in failures) == [
        ("dangling.txt", "broken symbolic link"),
        ("loop1.txt", "cannot access: Too many levels of symbolic links"),
        ("loop2.txt", "cannot access: Too many levels of symbolic links"),
        ("pipe.txt", "not a regular file"),
    ]
    explicit = list(discover([root / "dangling.txt", root / "loop1.txt"]))
    assert [(Path(f.path).name, f.reason) for f in explicit if isinstance(f, FileFailure)] == [
        ("dangling.txt", "broken symbolic link"),
        ("loop1.txt", "cannot access: Too many levels of symbolic links"),
    ]


def test_unreadable_directory_is_reported_and_the_walk_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    touch(root / "locked" / "secret.txt")
    touch(root / "open" / "fine.txt")
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if Path(path).name == "locked":  # chmod 000 is not enough when the tests run as root
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    sources, failures = split(list(discover([root])))
    assert [s.path.name for s in sources] == ["fine.txt"]
    assert [(Path(f.path).name, f.reason) for f in failures] == [("locked", "cannot read directory: Permission denied")]


def test_directory_symlinks_are_followed(tmp_path: Path) -> None:
    outside = touch(tmp_path / "elsewhere" / "shared.md")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked").symlink_to(outside.parent, target_is_directory=True)
    sources, _ = split(list(discover([root])))
    assert [s.path for s in sources] == [outside.resolve()]


def test_package_exports() -> None:
    assert sorted(ingest.__all__) == sorted(name for name in ingest.__all__ if hasattr(ingest, name))
    assert {"discover", "Chunker", "TextChunk"} <= set(ingest.__all__)


def test_discovery_streams_arguments_and_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "d1" / "x.txt")
    touch(tmp_path / "d2" / "y.txt")

    def args():
        yield tmp_path
        raise AssertionError("the next argument was read before the first file was handed out")

    scanned: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: (scanned.append(Path(path).name), real_scandir(path))[1])
    first = next(discover(args()))
    assert isinstance(first, Source) and first.path.name == "x.txt"
    assert scanned == [tmp_path.name, "d1"]  # d2 is listed only when the walk gets there
