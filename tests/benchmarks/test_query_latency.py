"""Smoke run of the latency benchmark at a tiny size: the script works end to end (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "query_latency.py"


@pytest.mark.slow
def test_query_latency_benchmark_writes_json_markdown_and_plot(tmp_path: Path, tiny_models: dict[str, Path]):
    spec = importlib.util.spec_from_file_location("query_latency", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "results"
    argv = ["--sizes", "150", "60", "--queries", "2", "--warmup", "1", "--rerank-candidates", "4", "--out", str(out)]
    assert bench.main([*argv, "--reranker", str(tiny_models["qwen3vl_reranker"])]) == 0

    results = json.loads((out / "query_latency.json").read_text())
    assert list(results["sizes"]) == ["60", "150"]  # grown in ascending order
    at = results["sizes"]["150"]
    assert at["points"] == 150
    stages = ("encode", "encode_raw", "search", "search_dense", "search_local", "search_numpy", "rerank")
    for stage in (*stages, "first_token", "total"):
        assert at["stages"][stage]["n"] == 2 and at["stages"][stage]["p95_ms"] >= at["stages"][stage]["p50_ms"] > 0
    assert set(at["ratios_p50"]) == {
        "encode/encode_raw",
        "search/search_dense",
        "search/search_local",
        "search/search_numpy",
        "first_token/first_token_raw",
    }
    assert [u["size"] for u in results["upsert"]] == [60, 150] == [u["size"] for u in results["upsert_local"]]
    assert [r["size"] for r in results["reopen"]] == [60, 150]
    fresh = results["reopen_fresh"]  # measured in a child process that opens the store and runs one query
    assert [(r["size"], r["points"]) for r in fresh] == [(60, 60), (150, 150)]
    assert all(r["open_s"] > 0 and r["first_query_ms"] > 0 and r["max_rss_mb"] > 0 for r in fresh)
    markdown = (out / "query_latency.md").read_text()
    assert "| 150 | search |" in markdown and "search_numpy" in markdown
    if importlib.util.find_spec("matplotlib") is not None:  # the optional `bench` extra
        assert (out / "query_latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not (out / "query_latency.png").exists()
