"""Smoke run of the ingest-throughput benchmark on a tiny corpus: the script works end to end and measures
both paths on the same chunks (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ingest_throughput.py"


@pytest.mark.slow
def test_ingest_throughput_benchmark_writes_paired_ratios(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("ingest_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "results"
    assert bench.main(["--files", "6", "--repeats", "2", "--out", str(out)]) == 0

    result = json.loads((out / "ingest_throughput.json").read_text())
    assert result["files"] == 6 and result["repeats"] == 2
    assert result["items"] > 6  # the generated corpus chunks into more items than files
    assert [len(result["all_seconds"][k]) for k in ("encode", "pipeline")] == [2, 2]
    assert len(result["ratio_per_round"]) == 2
    low, high = sorted(result["ratio_per_round"])
    assert low <= result["ratio"] <= high  # the median of the rounds
    for busy in result["pipeline_busy_seconds"]:
        assert busy["encode_documents"] > 0 and busy["upsert"] > 0
