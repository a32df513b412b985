"""Peak memory of ingesting a video against its length: decoding must stream, so 30 min ≈ 1 min.

    PYTHONPATH=. .venv/bin/python benchmarks/video_memory.py [--minutes 1 30] [--out DIR]

For each length a video of ffmpeg's moving test pattern (320x240, 10 fps) is generated, then ingested by
``rag ingest`` in a fresh subprocess (embedded Qdrant, the tiny random Qwen3-VL embedding model, so that
the video vector path runs: clips of sampled frames, keyframes) and the child's peak resident memory is
read from ``wait4``. The ratio of the longest to the shortest is the figure that matters (1.0 = flat);
baseline: the same subprocess ingesting nothing but a one-line text file.
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


def _ingest_peak(target: Path, models: Path, data: Path) -> tuple[float, float, str]:
    """Peak RSS (MiB) and seconds of `rag ingest target` in a fresh process."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "RAG_DATA_DIR": str(data),
        "RAG_MODELS__PROFILE": "gpu",
        "RAG_MODELS__TEXT__NAME": str(models),
        "RAG_MODELS__IMAGE__NAME": str(models),
        "RAG_MODELS__VIDEO__NAME": str(models),
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
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 30.0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    from rag.testing.tiny_models import build_qwen3vl_embedding
    from rag.testing.videos import make_video

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rag-video-bench-") as tmp:
        root = Path(tmp)
        models = build_qwen3vl_embedding(root / "qwen")
        note = root / "note.txt"
        note.write_text("a one-line baseline document\n")
        base_rss, base_s, _ = _ingest_peak(note, models, root / "data-baseline")
        for minutes in args.minutes:
            video = make_video(root / f"v{minutes:g}.mp4", [("red", minutes * 60)], size=(320, 240), pattern=True)
            rss, seconds, stdout = _ingest_peak(video, models, root / f"data-{minutes:g}")
            report = json.loads(stdout[stdout.index("{") :])
            results.append(
                {
                    "minutes": minutes,
                    "video_mb": round(video.stat().st_size / 2**20, 2),
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
    (args.out / "video_memory.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        "| video | peak RSS | over baseline |\n|---|---|---|\n"
        + "\n".join(
            f"| {r['minutes']:g} min | {r['peak_rss_mib']} MiB | {r['over_baseline_mib']} MiB |" for r in results
        )
        + f"\n\npeak ratio {longest['minutes']:g} min / {shortest['minutes']:g} min: "
        f"{summary['peak_ratio_longest_to_shortest']}"
    )


if __name__ == "__main__":
    main()
