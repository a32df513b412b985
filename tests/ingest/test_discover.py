from __future__ import annotations

import os
from collections.abc import Callable
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


def _spy_scandir(monkeypatch: pytest.MonkeyPatch, seen: Callable[[str | os.PathLike[str]], object]) -> None:
    """Report each folder listed by path to ``seen``. Listings by descriptor pass by: pytest's removal of
    ``tmp_path`` after the test lists that way while the patch is still in place."""
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str] | int) -> object:
        if not isinstance(path, int):
            seen(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_unreadable_directory_is_reported_and_the_walk_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    touch(root / "locked" / "secret.txt")
    touch(root / "open" / "fine.txt")
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str] | int) -> object:
        if not isinstance(path, int) and Path(path).name == "locked":  # chmod 000 is not enough as root
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
    _spy_scandir(monkeypatch, lambda path: scanned.append(Path(path).name))
    first = next(discover(args()))
    assert isinstance(first, Source) and first.path.name == "x.txt"
    assert scanned == [tmp_path.name, "d1"]  # d2 is listed only when the walk gets there


# -- confined discovery (the HTTP API's server-side paths) --------------------------------------------------


@pytest.fixture
def jail(tmp_path: Path) -> tuple[Path, Path]:
    """An allowed root ``inbox`` (with a real ``sub`` folder) and, beside it, a ``secret`` folder with links
    into it from the root: a folder link, a file link, a hidden folder link, a broken link out and a loop."""
    root = tmp_path / "inbox"
    touch(root / "sub" / "notes.md", b"# Notes")
    touch(root / "top.txt", b"top")
    secret = tmp_path / "secret"
    touch(secret / "SECRET-a.md", b"# a")
    touch(secret / "SECRET-b.conf", b"b")
    touch(secret / "deep" / "SECRET-c.txt", b"c")
    (root / "link").symlink_to(secret, target_is_directory=True)
    (root / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)
    (root / "file.md").symlink_to(secret / "SECRET-a.md")
    (root / ".hidden").symlink_to(secret, target_is_directory=True)
    (root / "gone.md").symlink_to(secret / "SECRET-none.md")
    (root / "loop").symlink_to(root / "loop")
    (root / "inside.md").symlink_to(root / "sub" / "notes.md")  # a link that stays inside is fine
    return root, secret


SHAPES = [
    "{root}/s[u]b/../../secret/*",
    "{root}/s[u]b/../../secret/SECRET-a.md",
    "{root}/sub/../../secret",
    "{root}/../secret/*.md",
    "{root}/link",
    "{root}/link/*",
    "{root}/link/SECRET-a.md",
    "{root}/link/SECRET-none.md",
    "{root}/link/**",
    "{root}/l[i]nk/*",
    "{root}/l?nk/deep/*",
    "{root}/*/SECRET-*",
    "{root}/*/*",
    "{root}/**",
    "{root}/**/*",
    "{root}/**/SECRET-*",
    "{root}/.*/*",
    "{root}/sub/up/secret/*",
    "{root}/sub/up/*/SECRET-a.md",
    "{root}/sub/u[p]/s*/*",
    "{root}/sub/**/*.md",
    "{root}/file.md",
    "{root}/f*.md",
    "{root}/gone.md",
    "{root}/loop",
    "{root}/lo[o]p/*",
    "{root}",
    "{secret}",
    "{secret}/*",
    "{secret}/SECRET-a.md",
    "/",
]


def _confined(paths: list[str], root: Path, **kw: object) -> list[Source | FileFailure]:
    return list(discover(paths, within=[root], **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", SHAPES)
def test_confined_discovery_never_names_or_lists_anything_outside_the_roots(
    jail: tuple[Path, Path], shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, secret = jail
    listed: list[str] = []
    _spy_scandir(monkeypatch, lambda path: listed.append(os.path.realpath(path)))
    given = shape.format(root=root, secret=secret)
    records = _confined([given], root)
    assert records, shape
    for record in records:
        # The argument itself may be quoted back (the caller wrote it); nothing else may name a secret.
        text = f"{record.path if record.path != given else ''} {getattr(record, 'reason', '')}"
        assert "SECRET" not in text, (shape, record)
        if isinstance(record, Source):
            assert record.path.is_relative_to(root.resolve()), (shape, record)
    # Nothing was walked outside the root: every folder listed resolves into it.
    assert all(Path(folder).is_relative_to(root.resolve()) for folder in listed), (shape, listed)


def test_a_pattern_that_climbs_out_of_a_real_folder_is_refused(jail: tuple[Path, Path]) -> None:
    root, _ = jail
    # The reproduction of the issue: ``sub`` exists, so plain glob resolves ``..`` and lists the secret folder.
    [record] = _confined([f"{root}/s[u]b/../../secret/*"], root)
    assert isinstance(record, FileFailure) and record.reason == "'..' is not allowed in a server path"


def test_outside_and_nonexistent_get_the_same_answer(jail: tuple[Path, Path]) -> None:
    root, secret = jail
    answers = set()
    for name in ("SECRET-a.md", "SECRET-none.md", "SECRET-*.md", "NONE-*.md"):
        for form in (f"{root}/link/{name}", f"{secret}/{name}"):
            [record] = _confined([form], root)
            assert isinstance(record, FileFailure) and record.path == form
            answers.add((record.reason, record.stage))
    assert answers == {("outside the allowed roots", "discover")}


def test_links_out_met_in_a_walk_are_skipped_under_their_own_names(jail: tuple[Path, Path]) -> None:
    root, _ = jail
    sources, failures = split(_confined([root], root))
    assert names(sources, root) == ["sub/notes.md", "top.txt"]  # inside.md resolves to sub/notes.md
    assert sorted((Path(f.path).relative_to(root).as_posix(), f.reason, f.stage) for f in failures) == [
        ("file.md", "link leads outside the allowed roots", "skip"),
        ("gone.md", "link leads outside the allowed roots", "skip"),
        ("link", "link leads outside the allowed roots", "skip"),
        ("loop", "cannot access: Too many levels of symbolic links", "discover"),
        ("sub/up", "link leads outside the allowed roots", "skip"),
    ]


def test_excluded_folders_inside_a_root_are_never_walked(tmp_path: Path) -> None:
    touch(tmp_path / "docs" / "a.md")
    touch(tmp_path / "data" / "uploads" / "globex" / "theirs.md")
    sources, failures = split(list(discover([tmp_path], within=[tmp_path], excluded=[tmp_path / "data"])))
    assert names(sources, tmp_path) == ["docs/a.md"]
    assert [(Path(f.path).name, f.reason) for f in failures] == [("data", "outside the allowed roots")]
    pattern = tmp_path / "data" / "uploads" / "*" / "*.md"
    [refused] = discover([pattern], within=[tmp_path], excluded=[tmp_path / "data"])
    assert isinstance(refused, FileFailure) and refused.reason == "outside the allowed roots"


def test_the_confined_glob_matches_what_glob_matches_inside_a_root(tmp_path: Path) -> None:
    import glob

    for name in ("a.md", "b.txt", ".h.md", "d1/c.md", "d1/d2/e.md", "d1/.hd/f.md", "x[1].md", "d3/g.md"):
        touch(tmp_path / name)
    patterns = ["*.md", "*", "**", "**/*.md", "d*/*.md", "d1/**", "d1/**/*.md", ".*", "x[[]1].md", "?.md", "*/d2/*"]
    for pattern in patterns:
        assert glob.glob(f"{tmp_path}/{pattern}", recursive=True), pattern  # each pattern matches something
        plain = [s.path for s in discover([f"{tmp_path}/{pattern}"]) if isinstance(s, Source)]
        confined = [s.path for s in _confined([f"{tmp_path}/{pattern}"], tmp_path) if isinstance(s, Source)]
        assert confined == plain, pattern


def test_the_walk_stops_at_its_limits_with_a_clear_last_record(tmp_path: Path) -> None:
    from ingest.discover import LIMIT, WalkLimits

    for i in range(10):
        touch(tmp_path / f"{i:02d}.md")
    records = list(discover([tmp_path], within=[tmp_path], limits=WalkLimits(max_entries=4, max_seconds=1e9)))
    *found, last = records
    assert [Path(r.path).name for r in found] == ["00.md", "01.md", "02.md", "03.md"]
    assert isinstance(last, FileFailure) and last.stage == LIMIT and last.path == str(tmp_path)
    assert "stopped after 4 files and folders" in last.reason and "narrower folder" in last.reason
    # A time limit of zero stops at the first name looked at; the next argument is not started either.
    timed = list(discover([tmp_path, tmp_path / "00.md"], within=[tmp_path], limits=WalkLimits(10**9, 0.0)))
    assert [(r.stage, "RAG_API__MAX_WALK_S" in r.reason) for r in timed] == [(LIMIT, True)]  # type: ignore[union-attr]
    # Without limits (the CLI) the same walk is complete.
    assert len(list(discover([tmp_path], within=[tmp_path]))) == 10


def test_a_name_that_is_not_utf8_is_a_failure_shown_escaped(tmp_path: Path) -> None:
    folder = tmp_path / os.fsdecode(b"d\xe9j\xe0")  # latin-1 folder name
    folder.mkdir()
    (folder / "a.md").write_text("# A\n")
    (tmp_path / "ok.md").write_text("# ok\n")
    records = list(discover([tmp_path]))
    sources = [r for r in records if isinstance(r, Source)]
    [failure] = [r for r in records if isinstance(r, FileFailure)]
    assert [s.path.name for s in sources] == ["ok.md"]
    assert failure.path.endswith("d\\xe9j\\xe0/a.md") and "not valid UTF-8" in failure.reason
    failure.model_dump_json()  # JSON-safe
