"""The user query reader: words, "phrases", -exclusions; nothing else is syntax."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.search.query import ParsedQuery, parse_query


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ParsedQuery()),
        ("   ", ParsedQuery()),
        ("dropout", ParsedQuery(words=("dropout",))),
        ("covid-19 vaccines", ParsedQuery(words=("covid-19", "vaccines"))),
        ('"graph neural" networks', ParsedQuery(words=("networks",), phrases=("graph neural",))),
        ("transformers -vision", ParsedQuery(words=("transformers",), excluded=("vision",))),
        (
            'llm -"in-context learning"',
            ParsedQuery(words=("llm",), excluded=("in-context learning",)),
        ),
        ('"unbalanced quote', ParsedQuery(words=("unbalanced", "quote"))),
        ('""', ParsedQuery()),
        ("a - b", ParsedQuery(words=("a", "-", "b"))),
        ("state-of-the-art", ParsedQuery(words=("state-of-the-art",))),
        ("x<y a:b c++ O(n^2) don't", ParsedQuery(words=("x<y", "a:b", "c++", "O(n^2)", "don't"))),
    ],
)
def test_parse_query(text: str, expected: ParsedQuery) -> None:
    assert parse_query(text) == expected


@given(st.text())
def test_any_text_parses_and_keeps_only_nonblank_parts(text: str) -> None:
    parsed = parse_query(text)
    for part in parsed.words + parsed.phrases + parsed.excluded:
        assert part.strip() == part and part
    for part in parsed.words + parsed.excluded:
        assert '"' not in part
