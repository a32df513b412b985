"""Peak memory of ingesting audio against its length: decoding and transcription stream, so 60 min ≈ 1 min.

    PYTHONPATH=. .venv/bin/python benchmarks/audio_memory.py [--minutes 1 60] [--out DIR]

For each length a mono MP3 of tones and silences (ffmpeg's ``sine``/``anullsrc``) is generated, then ingested
by ``rag ingest`` in a fresh subprocess (embedded Qdrant, the offline profile's bundled MiniLM for the
transcript text, the tiny random Whisper as recogniser, so the real decode → resample → features → generate
path runs window by window) and the child's peak resident memory is read from ``wait4``. The ratio of the
longest to the shortest is the figure that matters (1.0 = flat); baseline: the same subprocess ingesting
nothing but a one-line text file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _ingest_peak(target: Path, speech: Path, data: Path) -> tuple[float, float, str]:
    """Peak RSS (MiB) and seconds of `rag ingest target` in a fresh process."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "RAG_DATA_DIR": str(data),
        "RAG_MODELS__PROFILE": "offline",
        "RAG_MODELS__SPEECH__NAME": str(speech),
        "RAG_RERANK__MODEL__NAME": "none",
    }
    started = time.perf_counter()
    command = [sys.executable, "-m", "rag.cli", "ingest", "--no-progress", "--json", str(target)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS, in KiB on Linux
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"rag ingest {target} failed ({process.returncode}):\n{stderr[-2000:]}")
    return usage.ru_maxrss / 1024, seconds, stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 60.0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    from rag.testing.audio import make_audio
    from rag.testing.tiny_models import build_whisper

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rag-audio-bench-") as tmp:
        root = Path(tmp)
        speech = build_whisper(root / "whisper")
        note = root / "note.txt"
        note.write_text("a one-line baseline document\n")
        base_rss, base_s, _ = _ingest_peak(note, speech, root / "data-baseline")
        for minutes in args.minutes:
            half = minutes * 30
            audio = make_audio(root / f"a{minutes:g}.mp3", [("tone", half), ("silence", half)], rate=16000)
            rss, seconds, stdout = _ingest_peak(audio, speech, root / f"data-{minutes:g}")
            report = json.loads(stdout[stdout.index("{") :])
            results.append(
                {
                    "minutes": minutes,
                    "audio_mb": round(audio.stat().st_size / 2**20, 2),
                    "decoded_mb_if_whole": round(minutes * 60 * 16000 * 4 / 2**20, 1),
                    "points": report["points_written"],
                    "peak_rss_mib": round(rss, 1),
                    "over_baseline_mib": round(rss - base_rss, 1),
                    "seconds": round(seconds, 1),
                }
            )
            print(
                f"{minutes:>5g} min: peak {rss:7.1f} MiB ({rss - base_rss:+.1f} over baseline), "
                f"{report['points_written']} points, {seconds:.1f} s"
            )
    shortest, longest = results[0], results[-1]
    summary = {
        "baseline_peak_rss_mib": round(base_rss, 1),
        "baseline_seconds": round(base_s, 1),
        "runs": results,
        "peak_ratio_longest_to_shortest": round(longest["peak_rss_mib"] / shortest["peak_rss_mib"], 3),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "audio_memory.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        "| audio | peak RSS | over baseline |\n|---|---|---|\n"
        + "\n".join(
            f"| {r['minutes']:g} min | {r['peak_rss_mib']} MiB | {r['over_baseline_mib']} MiB |" for r in results
        )
        + f"\n\npeak ratio {longest['minutes']:g} min / {shortest['minutes']:g} min: "
        f"{summary['peak_ratio_longest_to_shortest']}"
    )


if __name__ == "__main__":
    main()
