#!/usr/bin/env python3
"""End-to-end check of the chat route in a real Open WebUI, driven through a real browser (issue 14).

Not part of `make test`: it installs Open WebUI (GBs, minutes the first time) into its own virtualenv, needs
Debian's `chromium`, and takes a few minutes per run. Contract tests in tests/rag/api pin the response shapes;
this script checks that the real frontend renders them: a cited answer with source chips, a follow-up, and an
image attachment, each saved as a screenshot.

    .venv/bin/python scripts/e2e_openwebui.py --out /tmp/e2e-openwebui      # or: make e2e

Steps: install Open WebUI 0.12.4 + playwright into --venv when missing (idempotent), ingest examples/ into
--data-dir, start `rag serve` and `open-webui serve` on free 127.0.0.1 ports, wait for both, drive headless
Chromium (`executable_path`, never `playwright install`), assert, kill both servers. Exit 0 on success, 1 on a
failure (the reason on stderr, logs and screenshots in --out), 0 with "skipped: <reason>" when Python 3.11,
chromium or Open WebUI cannot be installed here.

The outer part uses the standard library only, so any Python runs it; the browser part re-runs this file with
the Open WebUI virtualenv's Python (`--drive`), where playwright is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("e2e")

ROOT = Path(__file__).resolve().parent.parent
OPEN_WEBUI = "open-webui==0.12.4"
# The torch already in the machine's pip cache; Open WebUI would otherwise pull whatever is newest.
TORCH_PINS = ["torch==2.14.1", "torchvision==0.29.1"]
CORPUS = ["examples/docs", "examples/images", "examples/reports", "examples/videos"]
TENANT = "e2e"  # the key's tenant: what the browser can search
IMAGE = "examples/images/wiring-diagram.png"
QUESTION = "How long is the warranty on the Helios battery?"
FOLLOW_UP = "what voids it?"
IMAGE_QUESTION = "Which product is this wiring diagram for?"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Everything Open WebUI would otherwise fetch from the internet or do on its own: its embedding model and
# document RAG, web search, update checks, telemetry, Ollama, the arena models.
OPEN_WEBUI_ENV = {
    "WEBUI_AUTH": "False",
    "ENABLE_OLLAMA_API": "False",
    "ENABLE_OPENAI_API": "True",
    "OFFLINE_MODE": "True",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "False",
    "RAG_RERANKING_MODEL_AUTO_UPDATE": "False",
    "WHISPER_MODEL_AUTO_UPDATE": "False",
    "BYPASS_EMBEDDING_AND_RETRIEVAL": "True",
    "USE_SLIM_DOCKER": "true",  # no local embedding model loaded at start (it would look for it on the hub)
    "ENABLE_WEB_SEARCH": "False",
    "ENABLE_VERSION_UPDATE_CHECK": "False",
    "ENABLE_EVALUATION_ARENA_MODELS": "False",
    "ENABLE_COMMUNITY_SHARING": "False",
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    "ANONYMIZED_TELEMETRY": "false",
}


class Skip(Exception):
    """This machine cannot run the check (no Python 3.11, no chromium, no Open WebUI): not a failure."""


class Failed(Exception):
    """The check ran and something a user would see is wrong."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/e2e-openwebui"), help="screenshots and logs")
    parser.add_argument("--venv", type=Path, default=Path(os.environ.get("OWUI_VENV", "/tmp/owui-venv")))
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/e2e-data"), help="RAG_DATA_DIR to use")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM"), help="default: chromium on PATH")
    parser.add_argument("--no-install", action="store_true", help="skip instead of installing what is missing")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="e2e: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if args.drive:
            drive(args.url, args.out, args.chromium)
        else:
            run(args)
    except Skip as exc:
        print(f"skipped: {exc}")
        return 0
    except Failed as exc:
        print(f"e2e: FAILED: {exc} (logs and screenshots in {args.out})", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as exc:
        print(f"e2e: FAILED: `{' '.join(map(str, exc.cmd))}` ran over {exc.timeout:.0f} s", file=sys.stderr)
        return 1
    return 0


# --- set-up and servers (standard library only) ---------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    chromium = ensure_chromium(args.chromium, install=not args.no_install)
    python = ensure_open_webui(args.venv, install=not args.no_install)
    rag = ROOT / ".venv" / "bin" / "rag"
    if not rag.exists():
        raise Skip(f"{rag} is missing: run `make setup` first")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_DATA_DIR": str(args.data_dir)}
    env.update({"OPENBLAS_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"})
    log.info("ingesting %s into %s", " ".join(CORPUS), args.data_dir)
    ingest = subprocess.run(
        [str(rag), "ingest", "--tenant", TENANT, *CORPUS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    (args.out / "ingest.log").write_text(ingest.stdout + ingest.stderr)
    if ingest.returncode != 0:  # images that no loaded model can embed are skipped, not failed
        raise Failed(f"rag ingest exited {ingest.returncode}: {tail(ingest.stderr)}")

    key = secrets.token_urlsafe(32)
    rag_port, owui_port = free_port(), free_port()
    rag_url, owui_url = f"http://127.0.0.1:{rag_port}", f"http://127.0.0.1:{owui_port}"
    env["RAG_API__KEYS"] = json.dumps({key: TENANT})
    env["RAG_API__PUBLIC_URL"] = rag_url
    owui_data = Path(tempfile.mkdtemp(prefix="owui-data-"))  # a fresh Open WebUI each run: no old chats
    owui_env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        **OPEN_WEBUI_ENV,
        "DATA_DIR": str(owui_data),
        "WEBUI_SECRET_KEY": secrets.token_urlsafe(32),
        "OPENAI_API_BASE_URL": f"{rag_url}/v1",
        "OPENAI_API_KEY": key,
    }
    try:
        with (
            server("rag", [str(rag), "serve", "--host", "127.0.0.1", "--port", str(rag_port)], env, args.out),
            server(
                "openwebui",
                [str(python.parent / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(owui_port)],
                owui_env,
                args.out,
                cwd=owui_data,
            ),
        ):
            wait_ready("rag", f"{rag_url}/readyz", timeout=300)
            wait_ready("openwebui", f"{owui_url}/health", timeout=600)
            log.info("driving %s in %s", owui_url, chromium)
            cmd = [str(python), __file__, "--drive", "--url", owui_url, "--out", str(args.out), "--chromium", chromium]
            try:
                drove = subprocess.run(cmd, timeout=900)
            except subprocess.TimeoutExpired as exc:
                raise Failed("the browser part ran over 15 minutes") from exc
            if drove.returncode != 0:
                raise Failed(f"the browser part exited {drove.returncode}")
    finally:
        shutil.rmtree(owui_data, ignore_errors=True)
    log.info("passed: screenshots in %s", args.out)


def ensure_chromium(path: str | None, install: bool) -> str:
    """Debian's chromium: playwright cannot download its own browser without the internet."""
    found = shutil.which(path or "chromium")
    if found:
        return found
    if path or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Skip(f"no chromium at {path or 'chromium'} (as root: apt-get install -y chromium)")
    log.info("installing chromium with apt-get")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise Skip(f"`{' '.join(cmd)}` failed: {tail(done.stderr)}")
    found = shutil.which("chromium")
    if not found:
        raise Skip("chromium is still missing after apt-get install")
    return found


def ensure_open_webui(venv: Path, install: bool) -> Path:
    """Open WebUI and playwright in their own virtualenv (Open WebUI pins its own, many, dependencies)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import open_webui, playwright"]
    if python.exists() and (venv / "bin" / "open-webui").exists() and subprocess.run(check).returncode == 0:
        return python
    if not install:
        raise Skip(f"Open WebUI is not installed in {venv} (run without --no-install)")
    base = shutil.which("python3.11")
    if not base:
        raise Skip("Open WebUI 0.12 needs python3.11, which is not on PATH")
    log.info("installing %s and playwright into %s (minutes, GBs, the first time)", OPEN_WEBUI, venv)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(python), "-m", "pip", "install", "-q"]
    torch = subprocess.run([*pip, *TORCH_PINS], capture_output=True, text=True, timeout=1800)
    if torch.returncode != 0:  # not fatal: Open WebUI then picks its own torch
        log.warning("pinned torch did not install, letting pip choose: %s", tail(torch.stderr))
    done = subprocess.run([*pip, OPEN_WEBUI, "playwright"], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0 or subprocess.run(check).returncode != 0:
        raise Skip(f"could not install {OPEN_WEBUI}: {tail(done.stderr)}")
    return python


@contextlib.contextmanager
def server(name: str, cmd: list[str], env: dict[str, str], out: Path, cwd: Path = ROOT) -> Iterator[None]:
    """Run a server in its own process group for the block, its output in out/<name>.log; always stopped."""
    with open(out / f"{name}.log", "w") as logfile:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield
        finally:
            stop(proc)
            log.info("%s stopped", name)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_ready(name: str, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    log.info("%s ready (%s)", name, url)
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(2)
    raise Failed(f"{name} was not ready at {url} within {timeout:.0f} s: {last} (see {name}.log)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


# --- the browser part (runs in the Open WebUI virtualenv, which has playwright) ------------------------------


def drive(url: str, out: Path, chromium: str) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="e2e-chromium-")  # a fresh profile: no cookies or storage from a last run
    try:
        with sync_playwright() as pw:
            try:
                context = pw.chromium.launch_persistent_context(
                    profile, executable_path=chromium, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1400}
                )
            except PlaywrightError as exc:
                raise Failed(f"chromium did not start: {exc.message.splitlines()[0]}") from exc
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(60_000)
                try:
                    chat(page, url, out)
                except PlaywrightError as exc:
                    with contextlib.suppress(PlaywrightError):  # the page may be gone
                        page.screenshot(path=str(out / "failure.png"))
                        (out / "failure.html").write_text(page.content())
                    raise Failed(f"browser: {exc.message.splitlines()[0]} (see failure.png)") from exc
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def chat(page, url: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    """What a new user does: a question, a follow-up, a question with an image attached."""
    page.goto(f"{url}/?models=rag", wait_until="load")  # never "networkidle": socket.io keeps polling
    dismiss_dialogs(page)
    page.locator("#chat-input").wait_for()
    first, first_text = ask(page, QUESTION, out / "1-answer.png", expect="warranty")
    check_thumbnails(first)
    list_sources(page, first, out / "1-sources-list.png")
    open_source(page, first, out / "1-source.png")
    check_title(page)
    _, second_text = ask(page, FOLLOW_UP, out / "2-follow-up.png", expect=None)
    if second_text == first_text:
        log.warning("the follow-up %r got the same answer as %r, word for word", FOLLOW_UP, QUESTION)
    page.locator("input[type=file]").first.set_input_files(str(ROOT / IMAGE))
    page.locator("#message-input-container img[data-cy=image]").first.wait_for()  # uploaded, previewed
    _, third_text = ask(page, IMAGE_QUESTION, out / "3-image.png", expect=None)
    if "image could not be used" in third_text:
        log.info("the image was not searched (no image model loaded) and the answer says so")


def dismiss_dialogs(page) -> None:  # type: ignore[no-untyped-def]
    """The changelog ("What's New in Open WebUI") and the welcome toast shown to a new user cover the chat."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    button = page.get_by_role("button", name="Okay, Let's Go!")
    with contextlib.suppress(PlaywrightTimeout):
        button.wait_for(timeout=15_000)
        button.click()
    with contextlib.suppress(PlaywrightTimeout):  # "You're now logged in." would cover the first answer
        page.locator("[data-sonner-toast]").first.wait_for(state="detached", timeout=15_000)


def ask(page, question: str, shot: Path, expect: str | None) -> tuple[Any, str]:
    """Send a question, wait for the whole answer, check it has cited sources, save a screenshot of it."""
    answers = page.locator(".message-listitem:has(.chat-assistant)")
    before = answers.count()
    box = page.locator("#chat-input")
    box.click()
    box.fill(question)
    page.keyboard.press("Enter")
    answer = answers.nth(before)
    answer.wait_for(timeout=60_000)
    # Done when the action row (copy, regenerate...) of the new answer shows up: Open WebUI adds it at the end.
    answer.get_by_role("button", name="Copy").wait_for(timeout=180_000)
    toasts = page.locator("[data-sonner-toast][data-type=error]")
    if toasts.count():
        raise Failed(f"error toast after {question!r}: {toasts.first.inner_text()!r}")
    text = answer.locator("#response-content-container").inner_text()  # the answer alone, not its buttons
    if expect and expect.lower() not in text.lower():
        raise Failed(f"the answer to {question!r} does not mention {expect!r}: {text[:300]!r}")
    # Inline chips: one per [n], from our url_citation annotations; the "N Sources" toggle lists them all.
    chips = answer.locator("button[aria-label^='View source:']")
    toggle = answer.locator("button[aria-label^='Toggle'][aria-label$='sources']")
    if not chips.count() or not toggle.count():
        raise Failed(f"the answer to {question!r} has no source chips ({chips.count()} inline, no list)")
    page.wait_for_timeout(1000)  # thumbnails load
    page.locator(".user-message").last.scroll_into_view_if_needed()
    page.screenshot(path=str(shot))
    shot.with_suffix(".html").write_text(answer.inner_html())
    log.info("%r: %d characters, %d source chips, screenshot %s", question, len(text), chips.count(), shot.name)
    return answer, text


def list_sources(page, answer, shot: Path) -> None:  # type: ignore[no-untyped-def]
    """The "N Sources" toggle unfolds the list of sources, one per annotation."""
    answer.locator("button[aria-label^='Toggle'][aria-label$='sources']").first.click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot))


def check_thumbnails(answer) -> None:  # type: ignore[no-untyped-def]
    """The signed /v1/media thumbnails load in the browser, which has no API key."""
    images = answer.locator("img[src*='/v1/media/']")
    widths = [images.nth(i).evaluate("img => img.complete ? img.naturalWidth : 0") for i in range(images.count())]
    if not widths or not all(widths):
        raise Failed(f"thumbnails in the first answer: {len(widths)}, loaded widths {widths}")
    log.info("%d thumbnails loaded", len(widths))


def open_source(page, answer, shot: Path) -> None:  # type: ignore[no-untyped-def]
    """A chip opens Open WebUI's source view, whose link is our signed excerpt page, readable without a key."""
    answer.locator("button[aria-label^='View source:']").first.click()
    link = page.locator("a[href*='/v1/excerpts/']").first
    link.wait_for(timeout=10_000)
    page.screenshot(path=str(shot))
    response = page.request.get(link.get_attribute("href"))
    if response.status != 200:
        raise Failed(f"the excerpt link of the first chip answered {response.status}")
    page.keyboard.press("Escape")
    log.info("the first chip links to its excerpt page (200)")


def check_title(page) -> None:  # type: ignore[no-untyped-def]
    """The title task got JSON it could read: the chat is named after the question, not "New Chat"."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("() => document.title.toLowerCase().includes('warranty')", timeout=30_000)
    except PlaywrightTimeout as exc:
        raise Failed(f"the chat got no title from the title task: {page.title()!r}") from exc
    log.info("chat title: %r", page.title())


if __name__ == "__main__":
    sys.exit(main())
