"""What chat clients wrap around the user's words, taken off before the question is searched.

Open WebUI (0.11–0.12) prefixes a message that has files with ``<attached_files><file .../></attached_files>``
and may add ``<system_default_context>`` (who the user is); when its own document search or web search is on
for the model, it also wraps the message in its RAG template: instructions, a ``<context>`` of ``<source>``
blocks, and the typed question in ``<user_query>``. Searched as is, that text changes the results, so the
question is the ``<user_query>`` when there is one, and the other blocks are dropped.
"""

from __future__ import annotations

import re

__all__ = ["strip_wrappers"]

_USER_QUERY = re.compile(r"<user_query>(.*?)</user_query>", re.S)
_BLOCKS = tuple(
    re.compile(rf"<{tag}\b[^>]*>.*?</{tag}\s*>", re.S)
    for tag in ("attached_files", "system_default_context", "context", "source")
)
_EMPTY_BLOCKS = re.compile(r"<(?:attached_files|system_default_context|context)\b[^>]*/>")


def strip_wrappers(text: str) -> str:
    """The words the user typed: the last ``<user_query>`` if any, without the client's blocks."""
    queries = _USER_QUERY.findall(text)
    if queries:
        text = queries[-1]
    for block in _BLOCKS:
        text = block.sub("", text)
    return _EMPTY_BLOCKS.sub("", text).strip()
