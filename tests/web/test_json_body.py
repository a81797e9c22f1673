"""JSON answers are serialised once and cleaned only when they hold what cleaning drops
(web/clean.py dump_json): the body is byte for byte that of the walk over every string
(clean.cleaned), for every character cleaning drops, next to LaTeX backslashes and escapes that
only look like them."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from paperfeed.web import clean
from paperfeed.web.clean import dump_json, needs_cleaning

DROPPED = [chr(c) for c in range(0x20) if c not in (9, 10)] + ["\x7f", "\ufffe", "\uffff"]
KEPT = ["\t", "\n", "é", "→", "\u2028", "\ud7ff", "\ufffd", "😀", '"', "\\"]
LATEX = [r"$\beta$", r"\frac{a}{b}", r"\rho \bar{x}", r"\\b", r"\\\\f", "\\u0001 as text",
         r"C:\new\table", r"\u00e9"]  # fmt: skip


def answer(text: str) -> dict[str, object]:
    return {
        "id": "1",
        "title": text,
        "authors": [{"name": f"A {text} B", "hidden": False}],
        text: [text, 3, None, 1.5],
        "publishedAt": datetime(2024, 1, 2, tzinfo=UTC),
    }


@pytest.mark.parametrize("text", DROPPED + KEPT + LATEX)
def test_the_body_is_the_cleaned_one(text: str) -> None:
    for value in (text, f"before {text} after", text + text + r"\beta" + text):
        assert dump_json(answer(value)) == orjson.dumps(clean.cleaned(answer(value))), repr(value)


@pytest.mark.parametrize("text", KEPT + LATEX)
def test_clean_text_is_not_walked_again(text: str) -> None:
    """No false alarm on text with nothing to drop (LaTeX is full of \\b, \\f and \\r)."""
    assert not needs_cleaning(orjson.dumps(answer(text)))


@pytest.mark.parametrize("text", DROPPED)
def test_every_dropped_character_is_noticed(text: str) -> None:
    assert needs_cleaning(orjson.dumps(answer(r"\\" + text)))
