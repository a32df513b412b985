"""What PDF line boxes (region-grounded citations) cost at ingest: time and payload bytes per chunk.

    PYTHONPATH=. .venv/bin/python benchmarks/pdf_boxes.py [--docs 12] [--pages 4] [--repeats 3]
        [--no-pipeline] [--out benchmarks/results]

A seeded corpus of PDFs is written with fpdf2 (dense single-column pages, two-column pages written line by
line across both columns, bold words inside lines), then, in one process and alternating which goes first:

* **loader**: ``PdfLoader.load`` over the corpus (render, text, chunking, and the boxes) with boxes and with
  the line-box step switched off: the cost of boxes against the loader's own work, the strictest measure;
* **pipeline** (unless ``--no-pipeline``): ``RAG.ingest`` of the corpus into a fresh embedded store with the
  offline profile (bundled MiniLM, CPU), with and without boxes: what a user waits for.

Ratios (with / without) are per round, then the median, in CPU seconds of the process (all threads:
``time.process_time``), which other jobs on a shared machine disturb far less than wall time (also
recorded, ``wall_ratio``); the chunker is the pipeline's (the text model's
tokens, ``RAG_CHUNKING__TOKENS``). Payload: the JSON bytes of each chunk's ``anchors`` (mean, p95, max).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
_VOCABULARY = (
    "solar panel battery inverter warranty years output percent grid storage kilowatt hours installation "
    "roof south angle shade cable meter tariff export import efficiency module string voltage current "
    "season winter summer cloud maintenance cleaning glass frame mount"
)
WORDS = _VOCABULARY.split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def write_corpus(folder: Path, docs: int, pages: int, seed: int = 7) -> list[Path]:
    from fpdf import FPDF

    rng = random.Random(seed)
    paths: list[Path] = []
    for d in range(docs):
        pdf = FPDF(unit="pt", format="A4")
        for p in range(pages):
            pdf.add_page()
            if (d + p) % 3 == 2:  # two columns, written across both line by line
                pdf.set_font("helvetica", size=9)
                for row in range(60):
                    for x in (40, 310):
                        pdf.text(x, 60 + 12 * row, sentence(rng)[:52])
            else:
                pdf.set_font("helvetica", size=10)
                text = " ".join(sentence(rng) for _ in range(45))
                pdf.multi_cell(0, 13, text=text)
                pdf.set_font("helvetica", "B", 10)
                pdf.cell(0, 13, text="Bold heading inside the flow")
        path = folder / f"doc-{d:03d}.pdf"
        pdf.output(str(path))
        paths.append(path)
    return paths


@contextmanager
def boxes_off() -> Iterator[None]:
    import ingest.loaders.pdf as pdf_module

    original = pdf_module._line_runs
    pdf_module._line_runs = lambda *args, **kwargs: []  # type: ignore[assignment]
    try:
        yield
    finally:
        pdf_module._line_runs = original


def timed(run: Callable[[], Any], *, boxes: bool) -> tuple[float, float]:
    """(CPU seconds of this process, all its threads; wall seconds) of one run."""
    with boxes_off() if not boxes else nullcontext():
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        return time.process_time() - cpu, time.perf_counter() - wall


def rounds(run: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Both variants per round, alternating which goes first; the median of the rounds' ratios."""
    run()  # warm-up (imports, first-call costs)
    measured: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(repeats):
        for boxes in (True, False) if r % 2 == 0 else (False, True):
            measured[boxes].append(timed(run, boxes=boxes))
    cpu_ratios = [w[0] / wo[0] for w, wo in zip(measured[True], measured[False], strict=True)]
    wall_ratios = [w[1] / wo[1] for w, wo in zip(measured[True], measured[False], strict=True)]
    return {
        "with_boxes_cpu_s": [round(m[0], 3) for m in measured[True]],
        "without_boxes_cpu_s": [round(m[0], 3) for m in measured[False]],
        "with_boxes_wall_s": [round(m[1], 3) for m in measured[True]],
        "without_boxes_wall_s": [round(m[1], 3) for m in measured[False]],
        "cpu_ratio_per_round": [round(x, 4) for x in cpu_ratios],
        "wall_ratio_per_round": [round(x, 4) for x in wall_ratios],
        "ratio": round(statistics.median(cpu_ratios), 4),
        "wall_ratio": round(statistics.median(wall_ratios), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=12)
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-pipeline", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from ingest.discover import mime_type_for
    from ingest.pipeline import build_loaders
    from rag.config import Settings
    from rag.engine import RAG
    from rag.loading import load_embedders
    from rag.records import Source
    from rag.regions import ANCHORS

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        paths = write_corpus(folder, args.docs, args.pages)
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data", models={"profile": "offline"})  # type: ignore[call-arg]
        models = load_embedders(settings)
        sources = [
            Source(path=p, source_id=str(p), mime_type=mime_type_for(p) or "", size=p.stat().st_size) for p in paths
        ]
        loader = build_loaders(settings, models.embedders["text"]).for_source(sources[0])

        def load_all() -> list[Any]:
            return [item for source in sources for item in loader.load(source)]

        items = load_all()
        chunks = [i for i in items if i.kind == "text"]
        sizes = sorted(len(json.dumps(i.extra.get(ANCHORS, []), separators=(",", ":"))) for i in chunks)
        result: dict[str, Any] = {
            "docs": args.docs,
            "pages": args.docs * args.pages,
            "chunks": len(chunks),
            "chunk_tokens": settings.chunking.tokens,
            "render_dpi": settings.pdf.render_dpi,
            "payload_bytes": {
                "mean": round(statistics.mean(sizes), 1),
                "p95": sizes[int(0.95 * (len(sizes) - 1))],
                "max": sizes[-1],
                "lines_mean": round(statistics.mean(len(i.extra.get(ANCHORS, [])) for i in chunks), 1),
            },
            "loader": rounds(load_all, args.repeats),
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
        if not args.no_pipeline:
            counter = iter(range(10**6))

            def ingest() -> None:
                data = Path(tmp) / f"data-{next(counter)}"
                run_settings = Settings(_env_file=None, data_dir=data, models={"profile": "offline"})  # type: ignore[call-arg]
                rag = RAG(run_settings, models=models)
                try:
                    rag.ingest([folder], progress=False)
                finally:
                    rag.close()

            result["pipeline"] = rounds(ingest, max(2, args.repeats - 1))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "pdf_boxes.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
