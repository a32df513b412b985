"""The facade: nothing loads as a side effect of a query, and ``ingest`` never depends on it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rag.engine import RAG

REPO = Path(__file__).resolve().parents[2]


def test_queries_before_warm_up_say_so_instead_of_loading_models(make_settings) -> None:
    rag = RAG(make_settings("minilm"))
    for call in (
        lambda: rag.models,
        lambda: rag.search("battery warranty"),
        lambda: rag.answer("How long is the warranty?"),
        lambda: rag.retrieve("battery warranty"),
        lambda: rag.chat([{"role": "user", "content": "hi"}]),
        lambda: rag.search_roles(),
    ):
        with pytest.raises(RuntimeError, match=r"call RAG\.warm_up\(\)"):
            call()
    assert rag.readiness(store="not connected")["models"] == "not loaded"


def test_info_and_count_describe_the_store(make_rag) -> None:
    rag = make_rag("minilm")
    assert rag.count() == 0 and rag.info()["points"] == 0
    rag.ingest([REPO / "examples" / "docs"], progress=False, tenant="acme")
    info = rag.info()
    assert info["profile"] == "offline" and set(info["vectors"]) == {"text"}
    assert info["points"] == rag.count() == rag.count(tenant="acme") > 0 and rag.count(tenant="globex") == 0


def test_ingest_imports_only_the_lower_layers_of_rag() -> None:
    facade = {"rag", "rag.engine", "rag.orchestrator", "rag.api", "rag.cli", "rag.eval"}
    for path in sorted((REPO / "ingest").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in facade - {"rag"}), (path, name)
                assert name != "rag", (path, "imports the rag package itself (the facade)")
