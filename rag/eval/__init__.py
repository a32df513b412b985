"""Retrieval evaluation: BEIR-format and visual-document datasets, metrics, and the ``rag eval`` runner."""

from rag.eval.datasets import CorpusDoc, EvalDataset, load_dataset
from rag.eval.metrics import evaluate, metric_names, mrr_at_k, ndcg_at_k, recall_at_k
from rag.eval.runner import EvalReport, EvalWorkspace, ModeResult, format_report, run_eval

__all__ = [
    "CorpusDoc",
    "EvalDataset",
    "EvalReport",
    "EvalWorkspace",
    "ModeResult",
    "evaluate",
    "format_report",
    "load_dataset",
    "metric_names",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
    "run_eval",
]
