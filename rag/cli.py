"""The ``rag`` command line.

Exit status: 0 success; 1 some inputs failed (the rest were processed); 2 configuration or usage error;
130 interrupted.
"""

from __future__ import annotations

import os

# Before numpy/torch load: on small machines numpy's BLAS threads fight torch's for the same cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.engine import RAG
    from rag.records import Answer, Hit, IngestReport
    from rag.store import Store

__all__ = ["main"]

log = logging.getLogger("rag")


def build_parser() -> argparse.ArgumentParser:
    """The `rag` command line (the deploy checks parse the compose file's commands with it too)."""
    parser = argparse.ArgumentParser(prog="rag", description="Multimodal retrieval over your files.")
    parser.add_argument("--env-file", type=Path, help="read settings from this file instead of ./.env")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser("ingest", help="ingest files, directories (recursive) or glob patterns")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--tenant", help="tenant to ingest into (default: RAG_TENANT)")
    ingest.add_argument("--recreate", action="store_true", help="drop and recreate the collection first")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar")
    ingest.add_argument("--fail-fast", action="store_true", help="stop at the first file that fails (exit 1)")
    ingest.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report (every failure) here")

    query = sub.add_parser("query", help="print the ranked hits for a question")
    query.add_argument("text", metavar="QUESTION", nargs="?", default="")
    query.add_argument(
        "--audio",
        type=Path,
        metavar="FILE",
        help="search with (the first window of) this recording; needs an audio model",
    )
    query.add_argument("--limit", "-n", type=int, help="number of hits (default: RAG_RETRIEVAL__LIMIT)")
    query.add_argument("--json", action="store_true", help="print hits as JSON")
    query.add_argument("--tenant")
    query.add_argument("--source", action="append", help="only this source (path or file name); repeatable")
    query.add_argument("--modality", action="append", choices=["text", "image", "video", "audio"], help="repeatable")
    query.add_argument("--page-from", type=int)
    query.add_argument("--page-to", type=int)

    ask = sub.add_parser("ask", help="answer a question from the ingested sources, with citations")
    ask.add_argument("text", metavar="QUESTION")
    ask.add_argument("--json", action="store_true", help="print the whole result as JSON (no streaming)")
    ask.add_argument("--tenant")
    ask.add_argument("--source", action="append", help="only this source (path or file name); repeatable")
    ask.add_argument("--modality", action="append", choices=["text", "image", "video", "audio"], help="repeatable")
    ask.add_argument(
        "--show",
        nargs="?",
        const="",
        metavar="DIR",
        help="write the cited page crops with the cited sentences highlighted to DIR (default: DATA_DIR/highlights) "
        "and print their paths",
    )

    sources = sub.add_parser("sources", help="list ingested sources")
    sources.add_argument("--tenant")
    sources.add_argument("--json", action="store_true")
    sources.add_argument(
        "--unfinished",
        action="store_true",
        help="list versions that no search sees: being ingested now, or left by a killed run (removed at the "
        "next ingest)",
    )

    delete = sub.add_parser("delete", help="remove a source and its points")
    delete.add_argument("source", help="path or source id")
    delete.add_argument("--tenant")

    sub.add_parser("info", help="show the chosen profile, models and collection")

    ev = sub.add_parser(
        "eval",
        help="score retrieval on a BEIR-format or visual-document dataset (a fresh collection; yours is untouched)",
    )
    ev.add_argument("dataset", type=Path, metavar="DATASET_DIR", help="corpus.jsonl, queries.jsonl, qrels/test.tsv")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--limit-queries", type=int, metavar="N", help="score only the first N judged queries")
    ev.add_argument("--rerank", action="store_true", help="also score fused + rerank (needs RAG_RERANK__MODEL__NAME)")
    ev.add_argument("--keep", action="store_true", help="keep the evaluation collection (under DATA_DIR/eval/)")
    ev.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="score again in a collection kept by --keep (its folder): only documents that changed are embedded",
    )
    ev.add_argument(
        "--negatives",
        type=Path,
        metavar="FILE",
        action="append",
        help="queries that should be refused, one per line (beside the built-in off-domain ones); "
        "repeat it for several sets, reported apart by file name",
    )
    ev.add_argument(
        "--compare-fusions", action="store_true", help="also score the fused search with every other fusion"
    )
    ev.add_argument("--split", default="test", help="qrels/<SPLIT>.tsv (default: test)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")

    migrate = sub.add_parser(
        "migrate",
        help="copy the whole store (every point, the schema) to another engine or a Qdrant server, and back",
        description="Copy every point of one store into another, then check that both hold the same. A store is "
        "edge (Qdrant Edge, the embedded default), local (qdrant-client's local mode: stores written before "
        "Qdrant Edge), either with :DIR for another directory than RAG_QDRANT__PATH, or a Qdrant server's URL "
        "(RAG_QDRANT__API_KEY applies). Run it again to finish a copy that stopped: it skips what is there.",
    )
    migrate.add_argument("--to", required=True, metavar="STORE", help="edge[:DIR], local[:DIR] or http(s)://URL")
    migrate.add_argument("--from", dest="source", metavar="STORE", help="default: the configured store")
    migrate.add_argument("--json", action="store_true", help="print the report as JSON")
    migrate.add_argument("--no-progress", action="store_true", help="no progress bar")

    serve = sub.add_parser("serve", help="run the HTTP API (REST + OpenAI-compatible chat) with uvicorn")
    serve.add_argument("--host", help="bind address (default: RAG_API__HOST); loopback only without API keys")
    serve.add_argument("--port", type=int, help="port (default: RAG_API__PORT)")
    return parser


def _setup_logging(verbose: int, level: str) -> None:
    chosen = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else getattr(logging, level)
    logging.basicConfig(level=chosen, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if chosen > logging.INFO:
        for noisy in ("sentence_transformers", "transformers", "httpx", "qdrant_client", "huggingface_hub"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:
            pass


def _rel(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _announce(rag: RAG) -> None:
    _say(f"rag: {rag.models.describe()}")
    for note in rag.notes:
        _say(f"rag: note: {note}")


def _print_report(report: IngestReport) -> None:
    _say(
        f"files seen {report.files_seen}, ingested {report.ingested}, unchanged {report.unchanged}, "
        f"skipped {len(report.skipped)}, failed {len(report.failed)}; points written {report.points_written}, "
        f"removed {report.points_deleted}; {report.seconds:.1f}s"
    )
    for entry in report.skipped:
        _say(f"  skipped {_rel(entry.path)}: {entry.reason}")
    for entry in report.failed:
        _say(f"  FAILED  {_rel(entry.path)}: {entry.reason}")
    if report.stopped:
        _say(f"  {report.stopped}")
    for note in report.notes:
        _say(f"  note: {note}")


def _write_report(path: Path, report: IngestReport) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        _say(f"rag: cannot write the report to {path}: {exc.strerror or exc}")
        return False
    return True


def _snippet(text: str | None, width: int = 100) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _print_hits(hits: Sequence[Hit], rag: RAG) -> None:
    if not hits:
        print("no hits")
        return
    for hit in hits:
        location = hit.location.replace(Path(hit.path).name, _rel(hit.path), 1)
        print(f"{hit.rank:>2}. {hit.score:.4f}  {hit.modality:<5}  {location}")
        if hit.kind == "text" and hit.text:
            print(f"      {_snippet(hit.text)}")
        if hit.image_ref:
            print(f"      image: {_rel(str(rag.media_file(hit.image_ref)))}")


def _run(args: argparse.Namespace) -> int:
    from rag.config import Settings
    from rag.engine import RAG
    from rag.records import SearchFilters

    settings = Settings(_env_file=args.env_file) if args.env_file else Settings()  # type: ignore[call-arg]
    _setup_logging(args.verbose, settings.log_level)
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "eval":
        return _eval(args, settings)
    if args.command == "migrate":
        return _migrate(args, settings)
    rag = RAG.from_settings(settings)
    try:
        if args.command in {"sources", "delete"}:
            return _run_sources(args, rag)
        rag.warm_up()
        if args.command == "ingest":
            report = rag.ingest(
                args.paths,
                tenant=args.tenant,
                recreate=args.recreate,
                progress=False if args.no_progress else None,
                fail_fast=args.fail_fast,
            )
            _announce(rag)
            if args.json:
                print(report.model_dump_json(indent=2))
            written = _write_report(args.report, report) if args.report else True
            _print_report(report)
            if not written:
                return 2
            return 0 if report.ok else 1
        if args.command == "query":
            filters = SearchFilters(
                sources=args.source, modalities=args.modality, page_from=args.page_from, page_to=args.page_to
            )
            queries: list[Any] = [args.text] if args.text.strip() else []
            if args.audio is not None:
                queries.append(rag.audio_query(args.audio))
            hits = rag.search(queries, tenant=args.tenant, filters=filters, limit=args.limit)
            _announce(rag)
            if args.json:
                print(json.dumps([h.model_dump() for h in hits], indent=2, ensure_ascii=False))
            else:
                _print_hits(hits, rag)
            return 0
        if args.command == "ask":
            return _ask(args, rag)
        if args.command == "info":
            _announce(rag)
            print(json.dumps(rag.info(), indent=2))
            return 0
    finally:
        rag.close()
    return 2


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from rag.api import create_app
    from rag.api.deps import is_loopback

    host = args.host or settings.api.host
    port = args.port or settings.api.port
    if not settings.api.keys and not is_loopback(host):
        _say(f"no API keys configured (RAG_API__KEYS): binding to 127.0.0.1 instead of {host}")
        host = "127.0.0.1"
    elif not settings.api.keys:
        _say("no API keys configured (RAG_API__KEYS): serving this machine only, as tenant " + settings.tenant)
    else:
        tenants = sorted(set(settings.api.keys.values()))
        _say(f"{len(settings.api.keys)} API keys for tenants: {', '.join(tenants)}")
    _say(f"serving on http://{host}:{port} (OpenAPI docs at /docs)")
    if settings.api.access_log:  # our own line per request, whatever RAG_LOG_LEVEL says about the rest
        logging.getLogger("rag.access").setLevel(logging.INFO)
    # uvicorn's access log stays off: it logs the query string, where signed links carry their signature.
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower(), access_log=False)
    return 0


def _store_at(spec: str, settings: Settings) -> Store:
    """``edge``, ``local`` (optionally ``:DIR``) or a server URL, as a store of the configured collection."""
    from rag.errors import ConfigError
    from rag.store import make_store

    if spec.startswith(("http://", "https://")):
        return make_store(settings.qdrant.model_copy(update={"url": spec}), path=settings.qdrant_path)
    engine, _, where = spec.partition(":")
    if engine not in ("edge", "local"):
        raise ConfigError(f"unknown store {spec!r}: use edge, local (either with :DIR) or an http(s):// URL")
    qdrant = settings.qdrant.model_copy(update={"url": None, "embedded": engine})
    return make_store(qdrant, path=Path(where).expanduser() if where else settings.qdrant_path)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm.auto import tqdm

    from rag.store.migrate import migrate

    q = settings.qdrant
    source_spec = args.source or (q.url if q.url else q.embedded)
    source, target = _store_at(source_spec, settings), _store_at(args.to, settings)
    try:
        total = source.total()
        _say(f"rag: copying {total} points of collection {source.collection!r}: {source.location} -> {target.location}")
        with tqdm(total=total, unit="point", desc="migrate", disable=True if args.no_progress else None) as bar:
            report = migrate(
                source, target, resume=f"`rag migrate --from {source_spec} --to {args.to}`", on_page=bar.update
            )
    finally:
        source.close()
        target.close()
    if args.json:
        print(json.dumps(dataclasses.asdict(report), indent=2))
    _say(
        f"rag: copied {report.points} points ({report.searchable} searchable) in {report.seconds}s: "
        f"{report.written} written, {report.skipped} already there; the counts match"
    )
    if source_spec.partition(":")[0] == "local":
        _say(f"rag: the local-mode files in {source.location} stay until you remove them")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.engine import RAG
    from rag.eval import EvalWorkspace, format_report, load_dataset, run_eval

    if args.limit_queries is not None and args.limit_queries < 1:
        _say("rag: --limit-queries must be at least 1")
        return 2
    negatives: dict[str, list[str]] = {}
    for path in args.negatives or ():
        try:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            _say(f"rag: --negatives {path}: cannot read it ({exc})")
            return 2
        name = path.stem if path.stem not in negatives else str(path)
        negatives[name] = [q for q in lines if q]
    dataset = load_dataset(args.dataset, split=args.split)
    workspace = EvalWorkspace(settings, dataset.name, keep=args.keep, reuse=args.reuse, documents=len(dataset.corpus))
    rag: RAG | None = None
    try:
        rag = RAG.from_settings(workspace.settings).warm_up()
        _say(
            f"rag: evaluating {dataset.name} ({dataset.kind}: {len(dataset.corpus)} documents, "
            f"{len(dataset.judged_queries)} judged queries) in {workspace.location}"
        )
        report = run_eval(
            rag,
            dataset,
            workdir=workspace.path,
            rerank=args.rerank,
            limit_queries=args.limit_queries,
            progress=False if args.no_progress else None,
            negatives=negatives,
            compare_fusions=args.compare_fusions,
            reuse=workspace.reused,
        )
        _announce(rag)
    finally:
        workspace.cleanup(rag)
    if workspace.keep:
        _say(f"rag: kept the evaluation collection in {workspace.path} (score it again with --reuse {workspace.path})")
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(format_report(report))
    return 0


def _ask(args: argparse.Namespace, rag: RAG) -> int:
    from rag.records import Answer, SearchFilters

    filters = SearchFilters(sources=args.source, modalities=args.modality)
    if args.json:
        answer = rag.answer(args.text, tenant=args.tenant, filters=filters)
        _announce(rag)
        print(answer.model_dump_json(indent=2))
        for number, path in _show(args.show, answer, rag):
            _say(f"rag: [{number}] highlighted: {_rel(str(path))}")
        return 0
    _announce(rag)
    final: Answer | None = None
    for piece in rag.answer_stream(args.text, tenant=args.tenant, filters=filters):
        if isinstance(piece, Answer):
            final = piece
        else:
            sys.stdout.write(piece)
            sys.stdout.flush()
    print()
    assert final is not None
    for note in final.notes:
        _say(f"rag: note: {note}")
    if final.rerank.note and final.rerank.applied:
        _say(f"rag: rerank: {final.rerank.note}")
    if final.sources:
        print("\nSources:")
        cited = set(final.cited)
        for source in final.sources:
            if source.number not in cited:
                continue
            hit = source.hit
            location = hit.location.replace(Path(hit.path).name, _rel(hit.path), 1)
            shown = hit.rerank_score if hit.rerank_score is not None else hit.relevance
            score = f"  relevance {shown:.2f}" if shown is not None else ""
            print(f"  [{source.number}] {location}{score}")
            if hit.image_ref:
                print(f"      image: {_rel(str(rag.media_file(hit.image_ref)))}")
    for number, path in _show(args.show, final, rag):
        print(f"  [{number}] highlighted: {_rel(str(path))}")
    return 0


def _show(folder: str | None, answer: Answer, rag: RAG) -> list[tuple[int, Path]]:
    """``rag ask --show``: each cited source with regions on a page render, written as the highlighted crop
    ``<n>-<file>-p<page>.jpg`` to ``folder`` (empty: ``DATA_DIR/highlights``); (number, path) of each."""
    from rag.highlight import draw

    if folder is None:
        return []
    target = Path(folder) if folder else rag.settings.data_dir / "highlights"
    written: list[tuple[int, Path]] = []
    cited = set(answer.cited)
    for source in answer.sources:
        hit = source.hit
        if source.number not in cited or not hit.regions or hit.image_ref is None or hit.kind == "page":
            continue
        image = rag.open_image(hit.image_ref)
        if image is None:
            _say(f"rag: [{source.number}] the page render {hit.image_ref} is missing: nothing to highlight")
            continue
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{source.number}-{Path(hit.path).stem}-p{hit.page}.jpg"
        draw(image, [(r.x0, r.y0, r.x1, r.y1) for r in hit.regions], crop=True).save(path, format="JPEG", quality=90)
        written.append((source.number, path))
    return written


def _run_sources(args: argparse.Namespace, rag: RAG) -> int:
    if args.command == "delete":
        removed = rag.delete(args.source, tenant=args.tenant)
        _say(f"deleted {args.source}: {removed} points")
        return 0
    if args.unfinished:
        unfinished = rag.unfinished(tenant=args.tenant)
        if args.json:
            print(json.dumps([dataclasses.asdict(v) for v in unfinished], indent=2))
        for v in [] if args.json else unfinished:
            state = "record written, not yet visible" if v.published else "unfinished"
            print(f"{_rel(v.source_id)}  {v.content_hash[:12]}  {v.points} points  {state}  {v.started_at}")
        return 0
    records = rag.sources(tenant=args.tenant)
    if args.json:
        print(json.dumps([r.payload() for r in records], indent=2))
    else:
        for r in records:
            print(f"{_rel(r.path)}  {r.mime_type}  {r.points} points  {r.ingested_at}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError

    from rag.errors import RagError

    try:
        return _run(args)
    except ValidationError as exc:
        _say(f"rag: invalid settings:\n{exc}")
        return 2
    except RagError as exc:
        _say(f"rag: error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("rag: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
