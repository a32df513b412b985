"""The ``rag`` command end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.integration


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def cli_env(tmp_path: Path, tiny_models: dict[str, Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        RAG_DATA_DIR=str(tmp_path / "data"),
        RAG_MODELS__PROFILE="cpu",
        RAG_MODELS__TEXT__NAME="bundled:all-MiniLM-L6-v2",
        RAG_MODELS__IMAGE__NAME=str(tiny_models["clip"]),
        HF_HUB_OFFLINE="1",
    )
    return env


def test_ingest_then_query_json_and_text(tmp_path: Path, cli_env: dict[str, str]):
    folder = tmp_path / "never-seen"
    folder.mkdir()
    (folder / "cats.md").write_text("# Cats\n\nCats sleep for most of the day and purr when content.\n")
    (folder / "rockets.txt").write_text("Rockets burn fuel to produce thrust and reach orbit.\n")
    Image.new("RGB", (40, 30), "orange").save(folder / "photo.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")

    ingest = _run(["ingest", str(folder), "--no-progress"], cli_env, tmp_path)
    assert ingest.returncode == 1, ingest.stderr  # one file failed, the others went in
    assert "profile cpu" in ingest.stderr
    assert "ingested 3" in ingest.stderr and "failed 1" in ingest.stderr
    assert "broken.png" in ingest.stderr

    again = _run(
        ["ingest", str(folder / "cats.md"), str(folder / "rockets.txt"), "--no-progress", "--json"], cli_env, tmp_path
    )
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["unchanged"] == 2 and report["points_written"] == 0

    query = _run(["query", "how do rockets reach orbit?", "--json", "--limit", "5"], cli_env, tmp_path)
    assert query.returncode == 0, query.stderr
    hits = json.loads(query.stdout)
    assert hits[0]["path"].endswith("rockets.txt")
    assert {h["modality"] for h in hits} == {"text", "image"}
    assert all(h["tenant"] == "default" for h in hits)

    text = _run(["query", "sleepy purring animals", "--modality", "text"], cli_env, tmp_path)
    assert text.returncode == 0, text.stderr
    first = text.stdout.splitlines()[0]
    assert first.lstrip().startswith("1.") and "cats.md" in first

    ask = _run(["ask", "how do rockets reach orbit?", "--json"], cli_env, tmp_path)
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert answer["outcome"] == "extractive" and answer["sources"][0]["hit"]["path"].endswith("rockets.txt")
    streamed = _run(["ask", "how do rockets reach orbit?", "--modality", "text"], cli_env, tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    assert "[1]" in streamed.stdout and "Sources:" in streamed.stdout
    assert "no LLM configured" in streamed.stderr
    sources_block = streamed.stdout.split("Sources:")[1]
    assert sources_block.strip().startswith("[1]") and "rockets.txt" in sources_block.splitlines()[1]

    sources = _run(["sources", "--json"], cli_env, tmp_path)
    assert sorted(Path(s["path"]).name for s in json.loads(sources.stdout)) == ["cats.md", "photo.jpg", "rockets.txt"]
    deleted = _run(["delete", str(folder / "cats.md")], cli_env, tmp_path)
    assert deleted.returncode == 0 and "deleted" in deleted.stderr


def test_configuration_errors_are_one_clear_line_not_a_traceback(tmp_path: Path, cli_env: dict[str, str]):
    env = {**cli_env, "RAG_MODELS__TEXT__NAME": str(tmp_path / "no-such-model")}
    result = _run(["query", "anything"], env, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no-such-model" in result.stderr and "RAG_MODELS__TEXT__NAME" in result.stderr

    env = {**cli_env, "RAG_RETRIEVAL__FUSION": "nope"}
    result = _run(["query", "anything"], env, tmp_path)
    assert result.returncode == 2 and "invalid settings" in result.stderr and "Traceback" not in result.stderr


def test_query_before_any_ingest_says_what_to_do(tmp_path: Path, cli_env: dict[str, str]):
    result = _run(["query", "anything"], cli_env, tmp_path)
    assert result.returncode == 2
    assert "rag ingest" in result.stderr and "Traceback" not in result.stderr


def test_ingest_fail_fast_writes_the_json_report_and_exits_1(tmp_path: Path, cli_env: dict[str, str]):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "0-notes.xyz").write_bytes(b"?")  # unsupported, found in a directory: skipped
    (folder / "a.md").write_text("# Alpha\n\nAlpha text about batteries.\n")
    (folder / "b-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (folder / "c.txt").write_text("Gamma text about inverters.\n")
    report_path = tmp_path / "reports" / "ingest.json"

    result = _run(
        ["ingest", str(folder), "--no-progress", "--fail-fast", "--report", str(report_path)], cli_env, tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert "fail-fast" in result.stderr
    report = json.loads(report_path.read_text())
    broken = str((folder / "b-broken.png").resolve())
    assert [(f["path"], f["stage"]) for f in report["failed"]] == [(broken, "ingest")]
    assert report["failed"][0]["reason"].startswith("not a readable image")
    assert [(Path(s["path"]).name, s["stage"], s["reason"]) for s in report["skipped"]] == [
        ("0-notes.xyz", "skip", "unsupported file type '.xyz'")
    ]
    assert (report["ingested"], report["files_seen"]) == (1, 3)  # c.txt was never finalised
    assert broken in report["stopped"]


def test_info_says_how_searches_run(tmp_path: Path, cli_env: dict[str, str]):
    info = _run(["info"], cli_env, tmp_path)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["search"] == "no collection yet"  # then "exact search (N points)"


def test_ask_show_writes_the_highlighted_crops(tmp_path: Path, cli_env: dict[str, str]):
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(600, 800))
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    for i, line in enumerate(["Rockets burn fuel to produce thrust.", "Thrust lifts them into orbit around Earth."]):
        pdf.text(60, 200 + 40 * i, line)
    pdf.output(str(tmp_path / "rockets.pdf"))
    assert _run(["ingest", str(tmp_path / "rockets.pdf"), "--no-progress"], cli_env, tmp_path).returncode == 0

    ask = _run(["ask", "what burns fuel?", "--json", "--show", "crops"], cli_env, tmp_path)
    assert ask.returncode == 0, ask.stderr
    hits = [s["hit"] for s in json.loads(ask.stdout)["sources"] if s["hit"]["kind"] == "text"]
    assert hits and all(r["page"] == 1 for r in hits[0]["regions"]) and hits[0]["regions"]
    assert "highlighted: crops/1-rockets-p1.jpg" in ask.stderr

    streamed = _run(["ask", "what burns fuel?", "--modality", "text", "--show"], cli_env, tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    [line] = [x for x in streamed.stdout.splitlines() if "highlighted:" in x]
    crop = Path(line.split("highlighted: ", 1)[1])
    crop = crop if crop.is_absolute() else tmp_path / crop
    assert crop.parent == tmp_path / "data" / "highlights"
    with Image.open(crop) as image:
        assert image.width < 600 * 110 / 72  # a crop, not the whole page render
