"""Split text into chunks bounded by the embedding model's own token count.

The text is cut into *units* (sentences, list items, headings: see :func:`split_units`), which are packed
greedily into chunks of at most ``max_tokens`` tokens; consecutive chunks share whole trailing units worth
at most ``overlap_tokens`` tokens. A unit longer than ``max_tokens`` is cut at token boundaries into
overlapping pieces.

The text is tokenized once; unit sizes come from the token offsets. Because a tokenizer may count a
substring differently from the same characters in context (a sub-word at a cut, a leading space in byte-level
BPE), every chunk is re-tokenized once before it is emitted and shrunk if it is over the limit, so the bound
holds for the chunk text as the embedder will see it. Total work is linear in the text length.

``exact_counts=True`` skips that second tokenization, for tokenizers that split text at whitespace before
they tokenize each word on its own (BERT's WordPiece, as in all-MiniLM-L6-v2): units are cut at whitespace, so
a chunk's tokens are exactly its tokens in context, and the counts from the whole text are exact. It halves
the tokenizer's work, most of the loader's time for text. Pieces of an over-long unit are always re-tokenized.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Chunker", "TextChunk", "TokenSpans", "split_units"]

logger = logging.getLogger(__name__)

# Character span (start, end) of each token of a string, special tokens excluded.
TokenSpans = Callable[[str], list[tuple[int, int]]]

_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_SENTENCE_PUNCT = ".!?…"
_CLOSERS = "\"'”’)]"
# The whitespace runs that end a unit, found in one pass by the regex engine (a Python loop over every run
# was most of the loader's chunking time): a whole run that follows sentence-final punctuation (perhaps closed
# by quotes or brackets), or a whole run that holds a line break. ``(?<!\s)`` anchors the second form at the
# start of a run, so a run without a break costs linear time; ``\s+`` and ``\s*`` are greedy, so each match is
# a whole (maximal) run.
_BOUNDARY = re.compile(
    f"[{re.escape(_SENTENCE_PUNCT)}][{re.escape(_CLOSERS)}]*(\\s+)|(?<!\\s)(\\s*[{re.escape(_LINE_BREAKS)}]\\s*)"
)


@dataclass(frozen=True, slots=True)
class TextChunk:
    """A chunk of text and its character offsets in the original string: ``text == original[start:end]``."""

    text: str
    start: int
    end: int


def split_units(text: str) -> list[tuple[int, int]]:
    """Character spans of the units of ``text``: no unit starts or ends with whitespace, and together they
    hold every non-whitespace character.

    A unit ends at a whitespace run that contains a line break (paragraphs, list items, headings, wrapped
    lines) or that follows sentence-final punctuation (``.``, ``!``, ``?``, ``…``, maybe closed by quotes or
    brackets). Linear in the length of the text.
    """
    units: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        ws_start, ws_end = match.span(1) if match.start(1) >= 0 else match.span(2)
        if ws_start > start:  # a run at the very start of the text ends no unit
            units.append((start, ws_start))
        start = ws_end
    if start < len(text):
        units.append((start, len(text)))
    if units:  # only the first and the last unit can have whitespace at their edges
        first, last = units[0], units[-1]
        units[0] = (_lstrip(text, first[0], first[1]), first[1])
        units[-1] = (units[-1][0], _rstrip(text, units[-1][0], last[1]))
        if units[-1][0] >= units[-1][1]:
            units.pop()  # whitespace only
    return units


class Chunker:
    """Token-bounded text chunker; see the module docstring.

    ``token_spans`` gives the character span of each token of a string in the embedding model's tokenizer,
    without special tokens (from a Hugging Face fast tokenizer: ``return_offsets_mapping=True,
    add_special_tokens=False``). ``max_tokens`` must leave room for the model's special
    tokens; ``overlap_tokens`` must be below ``max_tokens``. ``exact_counts``: the tokenizer tokenizes each
    whitespace-separated word on its own, so chunks need no second tokenization (module docstring).
    """

    def __init__(
        self, token_spans: TokenSpans, max_tokens: int, overlap_tokens: int, *, exact_counts: bool = False
    ) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        if not 0 <= overlap_tokens < max_tokens:
            raise ValueError(f"overlap_tokens must be in [0, max_tokens), got {overlap_tokens} (max {max_tokens})")
        self.token_spans = token_spans
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.exact_counts = exact_counts

    def count_tokens(self, text: str) -> int:
        return len(self.token_spans(text))

    def chunk(self, text: str) -> list[TextChunk]:
        """Chunks of ``text`` in order; ``[]`` for empty or whitespace-only text."""
        if not text or text.isspace():
            return []
        return _ChunkRun(self, text).run()


class _ChunkRun:
    """State of chunking one text (kept off :class:`Chunker` so the chunker stays reusable and stateless)."""

    def __init__(self, chunker: Chunker, text: str) -> None:
        self.text = text
        self.max = chunker.max_tokens
        self.overlap = chunker.overlap_tokens
        self.count = chunker.count_tokens
        self.token_spans = chunker.token_spans
        self.exact = chunker.exact_counts
        self.starts = _monotonic_starts(chunker.token_spans(text))
        self.units = split_units(text)
        # Token index boundaries: tokens [bounds[i], bounds[i + 1]) belong to unit i. A token that starts in
        # the whitespace before a unit counts for that unit (an overestimate, so harmless); tokens of
        # trailing whitespace count for none.
        self.bounds = [0] + [bisect.bisect_left(self.starts, end) for _, end in self.units]
        self.chunks: list[TextChunk] = []

    def tokens(self, first: int, last: int) -> int:
        """Estimated token count of units ``first..last`` (inclusive), from the whole-text tokenization."""
        return self.bounds[last + 1] - self.bounds[first]

    def emit(self, start: int, end: int) -> None:
        self.chunks.append(TextChunk(self.text[start:end], start, end))

    def run(self) -> list[TextChunk]:
        units = self.units
        i = 0
        previous: tuple[int, int] | None = None  # units of the last unit-packed chunk
        while i < len(units):
            if self.tokens(i, i) > self.max:
                self.split_unit(i)
                previous = None
                i += 1
                continue
            first = i
            if previous is not None and previous[1] == i - 1:
                # Overlap: whole trailing units of the previous chunk, never all of it.
                while first - 1 > previous[0] and self.tokens(first - 1, i - 1) <= self.overlap:
                    first -= 1
            while first < i and self.tokens(first, i) > self.max:
                first += 1
            last = i
            while last + 1 < len(units) and self.tokens(first, last + 1) <= self.max:
                last += 1
            first, last = self.verified(first, i, last)
            if last < i:
                # Even the unit alone is over the limit once re-tokenized: cut it at token boundaries.
                self.split_unit(i)
                previous = None
                i += 1
                continue
            self.emit(units[first][0], units[last][1])
            previous = (first, last)
            i = last + 1
        return self.chunks

    def verified(self, first: int, new: int, last: int) -> tuple[int, int]:
        """Shrink units ``first..last`` (``new`` is the first unit not in the previous chunk) until the chunk
        re-tokenizes to at most ``max`` tokens: trailing new units go first, then overlap units. Returns
        ``last < new`` when not even unit ``new`` alone fits."""
        if self.exact:
            return first, last  # the estimate is the count (see the module docstring)
        units = self.units
        while last >= new:
            actual = self.count(self.text[units[first][0] : units[last][1]])
            if actual <= self.max:
                return first, last
            if last > new:
                last -= 1
            elif first < new:
                first += 1
            else:
                break
        return first, new - 1

    def split_unit(self, index: int) -> None:
        """Cut one over-long unit into pieces of at most ``max`` tokens, consecutive pieces sharing about
        ``overlap`` tokens. Cuts are at token starts (estimated from the whole-text tokens, then corrected with
        the piece's own tokens), so the pieces cover the whole unit, and each ends later than the one before."""
        unit_start, unit_end = self.units[index]
        t0, t1 = self.bounds[index], self.bounds[index + 1]
        text = self.text
        piece_start, previous_end = unit_start, unit_start
        while True:
            p = bisect.bisect_left(self.starts, piece_start, t0, t1)
            end = unit_end if p + self.max >= t1 else _rstrip(text, piece_start, self.starts[p + self.max])
            end = max(end, piece_start + 1)
            end, local = self.fit_piece(piece_start, end)
            if end <= previous_end < unit_end and piece_start < previous_end:
                # The overlap left no room for new text: start right after the previous piece instead.
                piece_start = _lstrip(text, previous_end, unit_end)
                continue
            self.emit(piece_start, end)
            if end >= unit_end:
                return
            previous_end = end
            resume = _lstrip(text, end, unit_end)  # where the text after this piece goes on
            next_start = resume
            if 0 < self.overlap < len(local):
                back = _lstrip(text, piece_start + local[len(local) - self.overlap], unit_end)
                if piece_start < back <= resume:
                    next_start = back
            piece_start = next_start

    def fit_piece(self, start: int, end: int) -> tuple[int, list[int]]:
        """Shrink ``text[start:end]`` until it re-tokenizes to at most ``max`` tokens, cutting at the start of
        its first token over the limit. Returns the end and the piece's token starts (relative to ``start``)."""
        text = self.text
        while True:
            local = _monotonic_starts(self.token_spans(text[start:end]))
            if len(local) <= self.max:
                return end, local
            if end - start <= 1:
                logger.warning("a single character is %d tokens, over the limit of %d", len(local), self.max)
                return end, local
            cut = _rstrip(text, start, start + local[self.max])
            end = _rstrip(text, start, min(max(cut, start + 1), end - 1))


def _monotonic_starts(spans: Sequence[tuple[int, int]]) -> list[int]:
    starts: list[int] = []
    current = 0
    for start, _ in spans:
        current = max(current, start)
        starts.append(current)
    return starts


def _rstrip(text: str, lo: int, end: int) -> int:
    while end > lo and text[end - 1].isspace():
        end -= 1
    return end


def _lstrip(text: str, start: int, hi: int) -> int:
    while start < hi and text[start].isspace():
        start += 1
    return start
