from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import Chunker, TextChunk, TokenSpans, split_units

_WORD = re.compile(r"\S+")


def word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def check_chunks(text: str, chunks: list[TextChunk], spans: TokenSpans, max_tokens: int) -> None:
    """The chunker's contract: bounded, exact spans, ordered, covering every non-whitespace character."""
    covered = bytearray(len(text))
    previous: TextChunk | None = None
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(spans(chunk.text)) <= max_tokens, chunk
        if previous is not None:
            assert chunk.start > previous.start and chunk.end > previous.end
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
        previous = chunk
    missed = [i for i, char in enumerate(text) if not char.isspace() and not covered[i]]
    assert not missed, f"characters not in any chunk: {[text[i] for i in missed][:10]}"


# Text built from words, sentence ends, line breaks and blank lines, with some unusual characters.
_PIECES = st.sampled_from(
    ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Ünïcödé", "naïve", "字", "😀", "don't",
     "e.g.", "3.14", "x" * 30, "supercalifragilistic", "(see", "this)", "\u200b", "\x00", "\u0301", "—", "…"]
)  # fmt: skip
_SEPARATORS = st.sampled_from([" ", " ", " ", ". ", "! ", "? ", "\n", "\n\n", "\t", ",  ", ".\n\n", "\r\n", "  "])
_TEXT = st.lists(st.tuples(_PIECES, _SEPARATORS), max_size=120).map(lambda parts: "".join(p + s for p, s in parts))
_ANY_TEXT = st.one_of(_TEXT, st.text(max_size=300))


@pytest.mark.parametrize("tokenizer", ["minilm_spans", "bpe_spans"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_ANY_TEXT, max_tokens=st.integers(8, 40), data=st.data())
def test_chunks_respect_the_contract_with_real_tokenizers(
    request: pytest.FixtureRequest, tokenizer: str, text: str, max_tokens: int, data: st.DataObject
) -> None:
    spans: TokenSpans = request.getfixturevalue(tokenizer)
    overlap = data.draw(st.integers(0, max_tokens // 2 - 1), label="overlap")
    chunks = Chunker(spans, max_tokens, overlap).chunk(text)
    check_chunks(text, chunks, spans, max_tokens)
    assert (chunks == []) == (text.strip() == "")


@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \r\n", "\u3000\u2028"])
def test_whitespace_only_gives_no_chunks(text: str) -> None:
    assert Chunker(word_spans, 16, 4).chunk(text) == []


def test_short_text_is_one_chunk_without_surrounding_whitespace(minilm_spans: TokenSpans) -> None:
    text = "\n  Hello world. This is short.  \n"
    assert Chunker(minilm_spans, 64, 8).chunk(text) == [TextChunk("Hello world. This is short.", 3, 30)]


def test_consecutive_chunks_overlap_by_whole_sentences(minilm_spans: TokenSpans) -> None:
    sentences = [f"Sentence number {n} is here." for n in range(40)]  # 6 tokens each
    text = " ".join(sentences)
    chunks = Chunker(minilm_spans, 30, 12).chunk(text)
    check_chunks(text, chunks, minilm_spans, 30)
    assert len(chunks) > 3
    for previous, chunk in itertools.pairwise(chunks):
        assert chunk.start < previous.end, "no overlap"
        shared = text[chunk.start : previous.end]
        assert shared.startswith("Sentence number") and shared.endswith("is here."), shared
        assert len(minilm_spans(shared)) <= 12


def test_no_overlap_when_overlap_is_zero(minilm_spans: TokenSpans) -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(40))
    chunks = Chunker(minilm_spans, 30, 0).chunk(text)
    check_chunks(text, chunks, minilm_spans, 30)
    assert all(chunk.start > previous.end for previous, chunk in itertools.pairwise(chunks))


def test_chunks_pack_several_sentences(minilm_spans: TokenSpans) -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(40))
    chunks = Chunker(minilm_spans, 30, 0).chunk(text)
    # 6 tokens per sentence, 30 per chunk: five sentences in each full chunk.
    assert [chunk.text.count("is here.") for chunk in chunks] == [5] * 8


def test_overlong_sentence_is_cut_at_token_boundaries_with_overlap(minilm_spans: TokenSpans) -> None:
    text = "Intro. " + " ".join(f"word{n}" for n in range(200)) + ". Outro."
    chunks = Chunker(minilm_spans, 20, 5).chunk(text)
    check_chunks(text, chunks, minilm_spans, 20)
    pieces = [chunk for chunk in chunks if "word" in chunk.text]
    assert len(pieces) > 10
    assert any(b.start < a.end for a, b in itertools.pairwise(pieces)), "pieces do not overlap"
    assert all(len(minilm_spans(chunk.text)) >= 10 for chunk in pieces[:-1]), "pieces are needlessly small"


def test_paragraph_and_line_boundaries_are_respected(minilm_spans: TokenSpans) -> None:
    text = "# Title\n\nFirst paragraph line one\nline two\n\n- item a\n- item b"
    chunks = Chunker(minilm_spans, 4, 0).chunk(text)
    assert [chunk.text for chunk in chunks] == [
        "# Title",
        "First paragraph line one",
        "line two",
        "- item a",
        "- item b",
    ]


def test_split_units() -> None:
    text = '  Pi is 3.14 roughly. "Really?" she asked!  Next\nline\n\n\nPara (done.) end'
    units = [text[a:b] for a, b in split_units(text)]
    assert units == ["Pi is 3.14 roughly.", '"Really?"', "she asked!", "Next", "line", "Para (done.)", "end"]
    assert split_units("") == [] and split_units(" \n ") == []
    assert split_units("no boundary at all") == [(0, 18)]


def _reference_split_units(text: str) -> list[tuple[int, int]]:
    """The definition of units, spelled out run by run (the implementation finds the same boundaries with one
    regex): a unit ends at a whitespace run that holds a line break or follows sentence punctuation, perhaps
    closed by quotes or brackets; units hold no edge whitespace."""
    breaks, punct, closers = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", ".!?…", "\"'”’)]"
    units: list[tuple[int, int]] = []
    unit_start: int | None = None
    text_end = cursor = 0
    for match in re.finditer(r"\s+", text):
        ws_start, ws_end = match.span()
        if ws_start > cursor:
            if unit_start is None:
                unit_start = cursor
            text_end = ws_start
            k = ws_start
            while k > unit_start and text[k - 1] in closers:
                k -= 1
            if any(c in breaks for c in text[ws_start:ws_end]) or (k > unit_start and text[k - 1] in punct):
                units.append((unit_start, ws_start))
                unit_start = None
        cursor = ws_end
    if cursor < len(text):
        units.append((cursor if unit_start is None else unit_start, len(text)))
    elif unit_start is not None:
        units.append((unit_start, text_end))
    return units


_UNIT_ALPHABET = st.sampled_from(list("ab .!?…\"')]”’ \t\n\r\x0b\x0c\x1c\x1d\x85\u2028\u3000\xa0("))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_UNIT_ALPHABET, max_size=40))
def test_split_units_matches_its_definition(text: str) -> None:
    assert split_units(text) == _reference_split_units(text)


def test_split_units_is_linear_on_long_whitespace() -> None:
    """A long run of spaces with no break must not make the boundary search quadratic."""
    text = "a" + " " * 200_000 + "b. c"
    assert [text[a:b] for a, b in split_units(text)] == [text[: text.index(".") + 1], "c"]


_WORDISH = st.sampled_from(
    ["solar", "Panel", "kWh", "3.14", "naïve", "Ünïcödé", "電池", "保証", "e-mail", "(done.)", '"Really?"', "x…",
     "don't", "##ab", "[CLS]", "a/b", "😀", "co-op", "\u0301e", "ﬁne"]
)  # fmt: skip
_GAP = st.sampled_from([" ", "  ", "\n", "\n\n", ". ", "! ", "\t", " \u3000 ", ", "])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(_WORDISH, _GAP), min_size=1, max_size=120), max_tokens=st.integers(4, 40))
def test_exact_counts_give_the_verified_chunks_with_minilm(
    minilm_spans: TokenSpans, parts: list[tuple[str, str]], max_tokens: int
) -> None:
    """For MiniLM's WordPiece tokenizer, counting tokens once (exact_counts) yields exactly the chunks that
    re-tokenizing every chunk does, and they keep the chunker's contract."""
    text = "".join(word + gap for word, gap in parts)
    overlap = max_tokens // 4
    verified = Chunker(minilm_spans, max_tokens, overlap).chunk(text)
    exact = Chunker(minilm_spans, max_tokens, overlap, exact_counts=True).chunk(text)
    assert exact == verified
    check_chunks(text, exact, minilm_spans, max_tokens)


def test_exact_counts_skip_the_second_tokenization() -> None:
    calls: list[int] = []

    def counting(text: str) -> list[tuple[int, int]]:
        calls.append(len(text))
        return word_spans(text)

    text = " ".join(f"Sentence {n} has five words." for n in range(200))
    chunks = Chunker(counting, 32, 4, exact_counts=True).chunk(text)
    assert len(chunks) > 10 and calls == [len(text)]  # the whole text, once
    check_chunks(text, chunks, word_spans, 32)


def test_chunk_is_checked_against_standalone_tokenization() -> None:
    """A tokenizer that counts a string alone differently from in context (here: one extra token at the
    start of every string, like a prefix marker) must still never yield an over-long chunk."""

    def prefixed(text: str) -> list[tuple[int, int]]:
        return [(0, 0), *word_spans(text)]

    text = " ".join(f"w{n}" for n in range(100)) + ". " + " ".join(f"Short {n}." for n in range(30))
    chunks = Chunker(prefixed, 10, 3).chunk(text)
    check_chunks(text, chunks, prefixed, 10)


def test_work_is_linear_in_text_length() -> None:
    """The text is tokenized once, then each chunk once more (no per-sentence or quadratic re-tokenization)."""
    tokenized: list[int] = []

    def counting(text: str) -> list[tuple[int, int]]:
        tokenized.append(len(text))
        return word_spans(text)

    text = "\n\n".join(
        " ".join(f"word{n}." if n % 7 == 6 else f"word{n}" for n in range(k, k + 40)) for k in range(2000)
    )
    chunks = Chunker(counting, 64, 8).chunk(text)
    assert tokenized[0] == len(text)
    assert len(tokenized) == len(chunks) + 1
    assert sum(tokenized) < 2.5 * len(text)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1), (10, 12)])
def test_invalid_settings_are_refused(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="tokens"):
        Chunker(word_spans, max_tokens, overlap)
