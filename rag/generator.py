"""The generator role: chat messages in, answer text out (whole, or streamed piece by piece).

:class:`Generator` is the protocol; :class:`LiteLLMGenerator` implements it over litellm, so any model
litellm knows (OpenAI, vLLM, Ollama, any OpenAI-compatible server via ``api_base``) can answer.

Retries are ours, never litellm's or the OpenAI client's (both are set to 0 retries: litellm's
``num_retries=N`` alone makes 2N+1 requests). Transient failures — rate limits (429), timeouts, connection
errors, 5xx — are retried with exponential backoff and jitter; everything else (authentication, bad request,
unknown model, context window exceeded) fails at once. Failures leave as :class:`rag.errors.GenerationError`,
with the litellm exception as ``__cause__``. A stream is retried only while it has yielded nothing; a failure
after the first piece raises at once.

litellm is imported on first use, never at import time. Before that import, ``LITELLM_LOCAL_MODEL_COST_MAP``
is defaulted to ``True`` (the only environment variable this project writes): otherwise importing litellm
fetches its model price list from GitHub. ``litellm.suppress_debug_info`` is set so that litellm's failures
print no help banners; its exceptions stay behind this module.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Protocol, TypeVar, runtime_checkable

from rag.config import GenerationSettings
from rag.errors import ConfigError, GenerationError

__all__ = ["Generator", "LiteLLMGenerator", "Messages"]

log = logging.getLogger(__name__)

Messages = list[dict[str, Any]]
Backoff = Callable[[int], float]
_T = TypeVar("_T")
_DETAIL_CHARS = 300
# "litellm.BadRequestError: BadRequestError: OpenAIException - the message" -> "the message"
_NOISE_PREFIX = re.compile(r"^(?:(?:litellm\.)?[A-Za-z]*(?:Error|Exception|Timeout)\s*(?::|-)\s*)+")


@runtime_checkable
class Generator(Protocol):
    """Answers chat messages (OpenAI format). ``model`` names the model for the answer record."""

    model: str

    def complete(self, messages: Messages) -> str: ...

    def stream(self, messages: Messages) -> Iterator[str]: ...


@functools.cache
def _litellm() -> ModuleType:
    """Import litellm once, quietly, without letting it fetch its price list."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    return litellm


@functools.cache
def _api_error() -> type[BaseException]:
    """The base class of every exception litellm maps provider failures to."""
    import openai

    error: type[BaseException] = openai.OpenAIError
    return error


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _is_transient(exc: BaseException) -> bool:
    """Worth retrying: rate limits, timeouts, connection failures and server errors (5xx)."""
    litellm = _litellm()
    if not isinstance(exc, _api_error()):
        return False
    transient = (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.ServiceUnavailableError,
        litellm.InternalServerError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient):
        return True
    status = _status(exc)
    return status is not None and status >= 500


def _detail(exc: BaseException) -> str:
    """The provider's message without litellm's stacked class-name prefixes, on one line, capped."""
    message = getattr(exc, "message", None)
    text = " ".join(str(message if isinstance(message, str) and message else exc).split())
    text = _NOISE_PREFIX.sub("", text) or text
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"


def _piece(chunk: Any) -> str:
    """The text in one streamed chunk (an OpenAI-style ``choices[0].delta.content``), or ``""``."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    content = getattr(getattr(choices[0], "delta", None), "content", None)
    return content if isinstance(content, str) else ""


def _content(response: Any) -> str:
    choices = getattr(response, "choices", None)
    if not choices:
        raise GenerationError("the model server returned no choices")
    content = getattr(getattr(choices[0], "message", None), "content", None)
    return content if isinstance(content, str) else ""


class LiteLLMGenerator:
    """A :class:`Generator` over ``litellm.completion``.

    ``backoff`` (attempt number → seconds to wait before the next attempt) replaces the default exponential
    backoff with jitter (0.5 s doubling, capped at ``retry_max_wait_s``); tests pass ``lambda n: 0``.
    """

    def __init__(self, settings: GenerationSettings, *, backoff: Backoff | None = None) -> None:
        if not settings.model:
            raise ConfigError("no generation model is set (RAG_GENERATION__MODEL)")
        self.settings = settings
        self.model: str = settings.model
        self._backoff = backoff

    # --- the two ways to ask ---

    def complete(self, messages: Messages) -> str:
        litellm = _litellm()
        return _content(self._retried(lambda: litellm.completion(**self._request(messages, stream=False))))

    def stream(self, messages: Messages) -> Iterator[str]:
        chunks, first = self._retried(lambda: self._open_stream(messages))
        if not first:
            return
        try:
            yield first
            for chunk in chunks:
                piece = _piece(chunk)
                if piece:
                    yield piece
        except _api_error() as exc:
            raise self._broken_stream(exc) from exc
        finally:
            close = getattr(chunks, "close", None)
            if callable(close):
                close()

    # --- internals ---

    def _retried(self, call: Callable[[], _T]) -> _T:
        """``call()``, retried while it fails transiently; a failure for good leaves as :class:`GenerationError`."""
        attempts = 0
        try:
            for attempt in self._retrying():
                with attempt:
                    attempts += 1
                    return call()
        except _api_error() as exc:
            raise self._failure(exc, attempts) from exc
        raise AssertionError("tenacity neither returned nor raised")  # reraise=True: unreachable

    def _open_stream(self, messages: Messages) -> tuple[Iterator[Any], str]:
        """Open a stream and wait for its first piece (``""`` when it ends without one): until something has been
        yielded, a failed stream can be started over, so this runs inside the retry loop."""
        chunks = iter(_litellm().completion(**self._request(messages, stream=True)))
        return chunks, next((piece for piece in map(_piece, chunks) if piece), "")

    # --- internals ---

    def _request(self, messages: Messages, *, stream: bool) -> dict[str, Any]:
        s = self.settings
        return {
            "model": s.model,
            "messages": messages,
            "api_base": s.api_base,
            "api_key": s.api_key.get_secret_value() if s.api_key is not None else None,
            "timeout": s.timeout_s,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens,
            "stream": stream,
            # We retry (below); litellm's num_retries and the OpenAI client's max_retries would multiply that.
            "num_retries": 0,
            "max_retries": 0,
        }

    def _retrying(self) -> Any:
        import tenacity

        backoff = self._backoff
        wait: Any = (
            tenacity.wait_exponential_jitter(multiplier=0.5, max=self.settings.retry_max_wait_s)
            if backoff is None
            else (lambda state: backoff(state.attempt_number))
        )
        options: dict[str, Any] = {
            "retry": tenacity.retry_if_exception(_is_transient),
            "stop": tenacity.stop_after_attempt(self.settings.max_retries + 1),
            "wait": wait,
            "before_sleep": self._log_retry,
            "reraise": True,
        }
        return tenacity.Retrying(**options)

    def _log_retry(self, state: Any) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "generation with %s failed (attempt %d of %d): %s; retrying in %.1f s",
            self.model,
            state.attempt_number,
            self.settings.max_retries + 1,
            self._describe(error) if error is not None else "unknown error",
            delay,
        )

    def _describe(self, exc: BaseException) -> str:
        litellm = _litellm()
        status = _status(exc)
        if isinstance(exc, litellm.Timeout) and status != 504:
            return f"timed out after {self.settings.timeout_s:g} s (RAG_GENERATION__TIMEOUT_S)"
        code = f"HTTP {status}, " if status is not None else ""
        return f"{_detail(exc)} ({code}{type(exc).__name__})"

    def _failure(self, exc: BaseException, attempts: int) -> GenerationError:
        """The error for a request that failed for good (``attempts`` made)."""
        litellm = _litellm()
        status = _status(exc)
        model = self.model
        if _is_transient(exc):
            plural = "attempt" if attempts == 1 else "attempts"
            return GenerationError(
                f"generation with {model!r} failed after {attempts} {plural} "
                f"(RAG_GENERATION__MAX_RETRIES={self.settings.max_retries}): {self._describe(exc)}"
            )
        if isinstance(exc, litellm.AuthenticationError) or status == 401:
            return GenerationError(
                f"authentication failed for model {model!r}: check RAG_GENERATION__API_KEY ({_detail(exc)})"
            )
        if isinstance(exc, litellm.PermissionDeniedError) or status == 403:
            return GenerationError(
                f"the model server denied access to {model!r} (403): check RAG_GENERATION__API_KEY ({_detail(exc)})"
            )
        if isinstance(exc, litellm.NotFoundError) or status == 404:
            return GenerationError(
                f"model {model!r} was not found (404): check RAG_GENERATION__MODEL and RAG_GENERATION__API_BASE "
                f"({_detail(exc)})"
            )
        if isinstance(exc, litellm.ContextWindowExceededError):
            return GenerationError(
                f"the prompt is too long for {model!r}: lower RAG_GENERATION__CONTEXT_HITS or "
                f"RAG_GENERATION__MAX_SOURCE_CHARS ({_detail(exc)})"
            )
        code = f" ({status})" if status is not None else ""
        return GenerationError(f"the model server rejected the request{code}: {_detail(exc)}")

    def _broken_stream(self, exc: BaseException) -> GenerationError:
        return GenerationError(
            f"the answer stream from {self.model!r} broke after it had started: {self._describe(exc)}"
        )
