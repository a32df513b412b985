"""Source text made safe to show inside a Markdown answer: one plain paragraph, nothing that renders.

An excerpt quoted in an answer (the extractive answer, a chat client's rendering of it) must read as a
sentence of that answer: a Markdown heading from the source would otherwise become a giant heading, a
``## Section`` mid-snippet would show its hashes, an HTML ``<h2>`` would run into the next sentence, and an
image reference (``![](https://...)``) would make the client fetch a URL chosen by the document. So:

* headings (Markdown ``#`` lines, setext underlines, HTML ``<h1>``–``<h6>``) become sentences of their own;
* HTML tags are dropped (their text stays), images become their alt text, links their text;
* block markers at the start of a line (quotes, list bullets, fences, rules) are dropped;
* whitespace is joined, and what could still start a block at the very beginning is escaped.
"""

from __future__ import annotations

import re

__all__ = ["plain_paragraph"]

_HTML_HEADING = re.compile(r"<h[1-6]\b[^<>]*>(.*?)</h[1-6]\s*>", re.I | re.S)
_HTML_BREAK = re.compile(r"</?(?:p|div|br|li|tr|td|th|section|article|ul|ol|table|blockquote)\b[^<>]*>", re.I)
_HTML_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ATX_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+(.*?))?[ \t#]*$", re.M)
_SETEXT_HEADING = re.compile(r"^(.+)\n[ \t]{0,3}(?:=+|-+)[ \t]*$", re.M)
_FENCE = re.compile(r"^[ \t]*(?:```|~~~)[^\n]*$", re.M)
_RULE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.M)
_BLOCK_MARKER = re.compile(r"^[ \t]*(?:>[ \t>]*|[-*+][ \t]+|\d{1,9}[.)][ \t]+)", re.M)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_SENTENCE_END = (".", "!", "?", ":", ";", "…")
# What would still start a block (heading, quote, list, code) or an HTML tag at the start of the paragraph.
_LEADING_BLOCK = re.compile(r"^(?:[#>+\-*=`~|]|\d{1,9}[.)](?=\s))")


def _sentence(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        return "\n"
    return f"\n{title}{'' if title.endswith(_SENTENCE_END) else '.'}\n"


def plain_paragraph(text: str) -> str:
    """``text`` (Markdown, HTML or plain) as one paragraph of plain sentences (see the module docstring)."""
    text = _HTML_COMMENT.sub(" ", text)
    text = _HTML_HEADING.sub(lambda m: _sentence(_HTML_TAG.sub(" ", m.group(1))), text)
    text = _HTML_BREAK.sub("\n", text)
    text = _HTML_TAG.sub(" ", text)
    text = _FENCE.sub("\n", text)
    text = _SETEXT_HEADING.sub(lambda m: _sentence(m.group(1)), text)
    text = _RULE.sub("\n", text)
    text = _ATX_HEADING.sub(lambda m: _sentence(m.group(1) or ""), text)
    text = _BLOCK_MARKER.sub("", text)
    text = _IMAGE.sub(lambda m: f" {m.group(1)} " if m.group(1).strip() else " ", text)
    text = _LINK.sub(r"\1", text)
    flat = " ".join(text.split())
    if _LEADING_BLOCK.match(flat):
        flat = "\\" + flat
    return flat
