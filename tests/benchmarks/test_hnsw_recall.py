"""Smoke run of the HNSW recall benchmark at a tiny size: the script works end to end (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "hnsw_recall.py"


@pytest.mark.slow
def test_hnsw_recall_benchmark_builds_the_index_and_reports_recall_per_ef(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("hnsw_recall", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "results"
    argv = ["--chunks", "300", "--queries", "4", "--ef", "16", "64", "--cache", str(tmp_path), "--out", str(out)]
    assert bench.main(argv) == 0

    results = json.loads((out / "hnsw_recall.json").read_text())
    assert results["points"] == 300 and results["index_state"] == "HNSW index (300 points, 300 indexed)"
    assert [r["ef"] for r in results["runs"]] == [16, 64]
    for run in results["runs"]:
        for kind in ("dense", "fused"):
            assert 0 <= run[kind]["recall_at_10"] <= 1 and run[kind]["p95_ms"] >= run[kind]["p50_ms"] > 0
    assert "| exact (baseline) |" in (out / "hnsw_recall.md").read_text()
    assert len(list(tmp_path.glob("minilm-*.npy"))) == 2  # the embeddings are cached
