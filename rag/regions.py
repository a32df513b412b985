"""Where a hit's text lies on its page (or in its video), and narrowing that to the sentences an answer cites.

At ingest, a text point that knows where its characters are stores them in its payload under
:data:`ANCHORS`: a bounded list (at most :data:`MAX_ANCHOR_BYTES` as JSON) of anchors, each a char range of
the point's text and where that range is:

* ``(start, end, xs, ys, xe, ye)`` — a run of one text line on a PDF page: ``(xs, ys)`` is the corner where
  the run begins and ``(xe, ye)`` the opposite one, in fractions of the page as rendered (top-left origin,
  page rotation and crop box applied). Keeping the corners in reading order (rather than min/max) tells which
  way the text runs on a rotated page, so part of a line can be cut out of it by interpolation.
* ``(start, end, start_s, end_s)`` — a subtitle or transcript line of a video and its times.

A hit shows its text's boxes as :class:`rag.records.Region` (``Hit.regions``); a page render is its whole
page. :func:`ground` narrows the sources of an answer to the sentences the answer relies on: the text before
each ``[n]`` (back to the previous citation) is split into sentences, each is matched to the cited source's
sentence sharing most of its words (cheap: no model), and the source's regions (and, for video text, its time
range) shrink to those sentences. The extractive answer quotes sentences verbatim, so they match exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from rag.records import Anchor, Answer, Citation, Hit, Region

__all__ = [
    "ANCHORS",
    "MAX_ANCHOR_BYTES",
    "chunk_anchors",
    "ground",
    "hit_regions",
    "narrow",
    "sentence_spans",
    "time_anchors",
]

ANCHORS = "anchors"
MAX_ANCHOR_BYTES = 2048
_DIGITS = 4
_BOX = 6
_TIMES = 4
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9À-Ý])|\n[ \t]*\n\s*")
_CITATION = re.compile(r"\[\s*\d+(?:\s*(?:[,;]|[-–])\s*\d+)*\s*\]")
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    {"the", "and", "for", "are", "was", "were", "with", "that", "this", "from", "into", "than", "then", "there"}
    | {"their", "they", "them", "its", "has", "have", "had", "not", "but", "you", "your", "our", "can", "could"}
    | {"would", "should", "will", "which", "who", "what", "when", "where", "how", "all", "any", "also", "been"}
)
_MIN_SHARED = 2


# -- at ingest ------------------------------------------------------------------------------------


def _slice(anchor: Anchor, start: int, end: int) -> Anchor | None:
    """The part of a line's anchor holding chars ``[start, end)``, placed by interpolating along the line (glyph
    widths differ, so its ends are approximate within a few characters); None when they do not overlap."""
    a, b = int(anchor[0]), int(anchor[1])
    lo, hi = max(a, start), min(b, end)
    if lo >= hi:
        return None
    if len(anchor) != _BOX or (lo == a and hi == b):
        return (lo, hi, *anchor[2:])
    xs, ys, xe, ye = anchor[2:]
    f0, f1 = (lo - a) / (b - a), (hi - a) / (b - a)
    if abs(xe - xs) >= abs(ye - ys):  # the text runs across the render (any page but one turned by 90°)
        return (lo, hi, round(xs + f0 * (xe - xs), _DIGITS), ys, round(xs + f1 * (xe - xs), _DIGITS), ye)
    return (lo, hi, xs, round(ys + f0 * (ye - ys), _DIGITS), xe, round(ys + f1 * (ye - ys), _DIGITS))


def chunk_anchors(lines: Iterable[Anchor], start: int, end: int, *, max_bytes: int = MAX_ANCHOR_BYTES) -> list[Anchor]:
    """The anchors of chars ``[start, end)`` of a page's (or transcript's) text, relative to ``start``, from the
    anchors of the whole text; neighbours are merged until the list fits ``max_bytes`` as JSON."""
    out: list[Anchor] = []
    for line in lines:
        part = _slice(line, start, end)
        if part is not None:
            out.append((int(part[0]) - start, int(part[1]) - start, *part[2:]))
    while len(out) > 1 and len(json.dumps(out, separators=(",", ":"))) > max_bytes:
        out = [_merge(out[i : i + 2]) for i in range(0, len(out), 2)]
    return out


def _merge(pair: Sequence[Anchor]) -> Anchor:
    first, last = pair[0], pair[-1]
    if len(first) != _BOX:
        return (first[0], last[1], min(a[2] for a in pair), max(a[3] for a in pair))
    xs = [v for a in pair for v in (a[2], a[4])]
    ys = [v for a in pair for v in (a[3], a[5])]
    # The union box, its corners still in the first run's reading order.
    x0, x1 = (min(xs), max(xs)) if first[2] <= first[4] else (max(xs), min(xs))
    y0, y1 = (min(ys), max(ys)) if first[3] <= first[5] else (max(ys), min(ys))
    return (first[0], last[1], x0, y0, x1, y1)


def time_anchors(lines: Sequence[tuple[str, float, float]], separator: str = " ") -> list[Anchor]:
    """Anchors of timed lines joined by ``separator`` into one text: ``(start, end, start_s, end_s)`` each."""
    out: list[Anchor] = []
    position = 0
    for text, start_s, end_s in lines:
        out.append((position, position + len(text), round(start_s, 3), round(end_s, 3)))
        position += len(text) + len(separator)
    return out


# -- on hits --------------------------------------------------------------------------------------


def _region(page: int, anchor: Anchor) -> Region:
    xs, ys, xe, ye = (min(1.0, max(0.0, float(v))) for v in anchor[2:])
    return Region(page=page, x0=min(xs, xe), y0=min(ys, ye), x1=max(xs, xe), y1=max(ys, ye))


def hit_regions(kind: str, page: int | None, anchors: Sequence[Anchor]) -> list[Region]:
    """The regions of a stored point: its text's line boxes, or the whole page for a page render."""
    if page is None:
        return []
    if kind == "page":
        return [Region(page=page, x0=0.0, y0=0.0, x1=1.0, y1=1.0)]
    return [_region(page, a) for a in anchors if len(a) == _BOX]


def narrow(hit: Hit, spans: Sequence[tuple[int, int]]) -> Hit:
    """``hit`` with its regions (and, for timed text, its time range) narrowed to chars ``spans`` of its text;
    unchanged when its anchors say nothing about them."""
    boxes = [part for a in hit.anchors if len(a) == _BOX for s, e in spans if (part := _slice(a, s, e)) is not None]
    times = [a for a in hit.anchors if len(a) == _TIMES and any(_slice(a, s, e) for s, e in spans)]
    update: dict[str, object] = {}
    if boxes and hit.page is not None:
        update["regions"] = [_region(hit.page, b) for b in boxes]
    if times:
        update["start_s"] = min(float(a[2]) for a in times)
        update["end_s"] = max(float(a[3]) for a in times)
    return hit.model_copy(update=update) if update else hit


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` (split as :mod:`rag.extractive` splits), whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        end = match.start() if match is not None else len(text)
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        if piece.strip():
            spans.append((start + lead, start + len(piece.rstrip())))
        if match is not None:
            start = match.end()
    return spans


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP}


def _claims(text: str, valid: set[int]) -> dict[int, list[str]]:
    """Per cited number, the text each of its citations stands for: back to the previous citation, within its
    paragraph (``A [1][2]``: the same text for both)."""
    claims: dict[int, list[str]] = {}
    previous_end = 0
    claim = ""
    for match in _CITATION.finditer(text):
        piece = text[previous_end : match.start()]
        piece = piece[piece.rfind("\n\n") + 1 :] if "\n\n" in piece else piece
        if _words(piece):
            claim = piece
        previous_end = match.end()
        for number in (int(n) for n in re.findall(r"\d+", match.group(0))):
            if number in valid and claim:
                claims.setdefault(number, []).append(claim)
    return claims


def _best_spans(text: str, claims: Sequence[str]) -> list[tuple[int, int]]:
    """The sentences of ``text`` that the claims' sentences match best (most shared words, both ways)."""
    sentences = [(span, _words(text[span[0] : span[1]])) for span in sentence_spans(text)]
    chosen: list[tuple[int, int]] = []
    for claim in claims:
        for start, end in sentence_spans(claim):
            said = _words(claim[start:end])
            if not said:
                continue
            best, score = None, 0.0
            for span, words in sentences:
                shared = len(said & words)
                if shared < min(_MIN_SHARED, len(said)):
                    continue
                value = 2 * shared / (len(said) + len(words))
                if value > score:
                    best, score = span, value
            if best is not None and best not in chosen:
                chosen.append(best)
    return sorted(chosen)


def ground(answer: Answer) -> Answer:
    """``answer`` with each cited source's regions and times narrowed to the sentences the answer relies on."""
    if not answer.cited or not any(c.hit.anchors for c in answer.sources):
        return answer
    claims = _claims(answer.text, set(answer.cited))
    sources: list[Citation] = []
    for citation in answer.sources:
        hit = citation.hit
        if hit.anchors and hit.text and citation.number in claims:
            spans = _best_spans(hit.text, claims[citation.number])
            if spans:
                citation = citation.model_copy(update={"hit": narrow(hit, spans)})
        sources.append(citation)
    return answer.model_copy(update={"sources": sources})
