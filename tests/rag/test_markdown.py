"""Source text shown inside an answer renders as one plain paragraph (issue 14, item 4)."""

from __future__ import annotations

import pytest

from rag.markdown import plain_paragraph


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # The first excerpt of a trial rendered as a giant heading, the next one showed its hashes mid-paragraph.
        (
            "# Helios 400 Battery\n\nIt carries a 12-year warranty.\n\n## Making a warranty claim\nCall us.",
            "Helios 400 Battery. It carries a 12-year warranty. Making a warranty claim. Call us.",
        ),
        # HTML headings ran into the next sentence.
        ("<h2>Warranty</h2><p>Twelve years on parts.</p>", "Warranty. Twelve years on parts."),
        ("<h3>What voids it?</h3>Misuse.", "What voids it? Misuse."),
        ("Title\n=====\nbody", "Title. body"),
        ("1. first\n2. second\n> quoted\n- bullet", "first second quoted bullet"),
        ("```python\nprint(1)\n```", "print(1)"),
        ("See [the manual](https://example.com/m(1)).", "See the manual."),
        ("   spaced\t\tout \n\n words ", "spaced out words"),
        ("a < b and c > d", "a < b and c > d"),  # not tags: kept
        ("", ""),
    ],
)
def test_markdown_and_html_become_plain_sentences(source: str, expected: str) -> None:
    assert plain_paragraph(source) == expected


def test_an_image_reference_in_a_source_is_never_fetched_by_the_client() -> None:
    text = plain_paragraph('Wiring ![diagram](https://tracker.example/p.png) and <img src="https://x/y.png"> done')
    assert "http" not in text and text == "Wiring diagram and done"


@pytest.mark.parametrize("start", ["#hashtag at the start", "=== equals", "`code` first", "| a | b |"])
def test_what_could_still_start_a_block_is_escaped(start: str) -> None:
    assert plain_paragraph(start).startswith("\\")
