"""Request bodies shaped as Open WebUI 0.12 and LibreChat send them (abridged templates, same structure).

Open WebUI's task prompts start with ``### Task:``, quote the conversation as ``USER:``/``ASSISTANT:`` lines in
``<chat_history>`` and ask for one JSON object; its chat requests carry ``tools`` and ``stream_options`` and
prefix a message that has files with ``<attached_files>``; with its own search on it wraps the question in
its RAG template (``<context>`` of ``<source>`` blocks, then ``<user_query>``).
"""

from __future__ import annotations

from typing import Any

QUESTION = "How long is the warranty on the Helios battery?"
ANSWER = "The Helios battery carries a ten year warranty [1]."
HISTORY = f"<chat_history>\nUSER: {QUESTION}\nASSISTANT: {ANSWER}\n</chat_history>"

TASKS = {
    "title": "### Task:\nGenerate a concise title summarizing the chat history.\n### Guidelines:\n- Keep it short.\n"
    '### Output:\nJSON format: { "title": "your concise title here" }\n### Examples:\n- { "title": "Stock Trends" }\n'
    f"### Chat History:\n{HISTORY}",
    "tags": "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat history.\n\n### Guidelines:\n"
    '- Use the chat\'s primary language\n\n### Output:\nJSON format: { "tags": ["tag1", "tag2", "tag3"] }\n\n'
    f"### Chat History:\n{HISTORY}",
    "follow_ups": "### Task:\nSuggest 3-5 relevant follow-up questions or prompts that the user might naturally ask "
    'next.\n### Guidelines:\n- Response must be a JSON object with a "follow_ups" key.\n### Output:\n'
    'JSON format: { "follow_ups": ["Question 1?", "Question 2?", "Question 3?"] }\n'
    f"### Chat History:\n{HISTORY}",
    "queries": "### Task:\nAnalyze the chat history to determine the necessity of generating search queries.\n\n"
    '### Guidelines:\n- Respond in the format: { "queries": ["query1", "query2"] }\n\n### Output:\nStrictly return '
    'in JSON format: \n{\n  "queries": ["query1", "query2"]\n}\n\n'
    f"### Chat History:\n{HISTORY}",
}
TASK_KEYS = {"title": "title", "tags": "tags", "follow_ups": "follow_ups", "queries": "queries"}

LIBRECHAT_TITLE = (
    "Provide a concise, 5-word-or-less title for the conversation, using title case conventions. Only return the "
    f"title itself.\n\nConversation:\nUser: {QUESTION}\nAI: {ANSWER}"
)

ATTACHED = (
    '<attached_files>\n<file type="file" url="6f0c2a51-0d7e-4c57-9d0a-2b1e" content_type="text/markdown" '
    'name="notes.md"/>\n</attached_files>\n\n'
)
RAG_TEMPLATE = (
    "### Task:\nRespond to the user query using the provided context, incorporating inline citations in the "
    'format [id].\n\n### Guidelines:\n- Answer in the language of the query.\n\n<context>\n<source id="1" '
    'name="notes.md">Solar inverter maintenance schedule and fan filters.</source>\n</context>\n\n'
    f"<user_query>\n{QUESTION}\n</user_query>"
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "view_knowledge_file",
            "description": "Read a file attached to the chat.",
            "parameters": {"type": "object", "properties": {"file_id": {"type": "string"}}, "required": ["file_id"]},
        },
    }
]


def task_body(prompt: str, *, model: str = "rag", stream: bool = False) -> dict[str, Any]:
    """A task request: one user message, not streamed (Open WebUI's generate_* task routes)."""
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}


def chat_body(text: str, *, model: str = "rag", image: str | None = None, stream: bool = True) -> dict[str, Any]:
    """A chat request as Open WebUI sends it for a model with tools: content parts, tools, usage in the stream."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if image is not None:
        parts.append({"type": "image_url", "image_url": {"url": image}})
    return {
        "model": model,
        "stream": stream,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": parts}],
        "tools": TOOLS,
    }
