"""Which words of a paper's text to mark for a query: whole words whose stem is a query word's
stem, and quoted phrases as whole phrases; never stop words, never a word's prefix.

Words are read as the keyword index reads them (search/keyword.py): runs of Unicode letters and
digits (tantivy's simple tokenizer), lower-cased, folded to ASCII, stemmed by the same Snowball
English stemmer. So "model" marks "models" and "modeling" but not "modelica", and "distill"
marks "distillation" (all three stem to "distil"): a word is marked when the index would have
matched it. Stop words go further than the index's list (Lucene's 33 words, which the index
drops): STOP_WORDS adds NLTK's English list, so the words that frame a question ("what", "how",
"do", "i") are not marked, though the index still scores them.

Only plain text reaches `spans` (web/mathtext.py cuts out math and LaTeX commands first); it
produces no markup: the caller escapes every piece.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import tantivy

from paperfeed.search.query import parse_query

# Lucene's English stop words (tantivy's `stopword("english")`, what the index drops) and NLTK's.
_STOP_WORDS = """a an and are as at be but by for if in into is it no not of on or such that the
    their
    then there these they this to was will with
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself its itself them theirs themselves what which who whom those am were
    been being have has had having do does did doing because until while about against between
    through during before after above below from up down out off over under again further
    once here when where why how all any both each few more most other some nor only own same
    so than too very s t can just don should now d ll m o re ve y ain aren couldn didn doesn
    hadn hasn haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[^\W_]+")  # letters and digits, as tantivy's simple tokenizer
_ANALYZER: tantivy.TextAnalyzer | None = None


def _analyzer() -> tantivy.TextAnalyzer:
    """The index's text analyzer without its stop-word filter (phrases keep their stop words)."""
    global _ANALYZER
    if _ANALYZER is None:
        f = tantivy.Filter
        _ANALYZER = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(f.lowercase())
            .filter(f.ascii_fold())
            .filter(f.stemmer("english"))
            .build()
        )
    return _ANALYZER


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """One word's stem as the keyword index stores it ("datasets" -> "dataset")."""
    return "".join(_analyzer().analyze(word)) or word.lower()


def _is_stop(word: str) -> bool:
    return word.lower() in STOP_WORDS


def terms(query: str) -> list[str]:
    """The words and phrases of a query worth marking: its quoted phrases, then its words that
    are not stop words (one per stem), in the query's order. Excluded words are not marked."""
    parsed = parse_query(query)
    out: list[str] = []
    seen: set[str] = set()
    for phrase in parsed.phrases:
        if _WORD.search(phrase) and phrase.strip() not in seen:
            seen.add(phrase.strip())
            out.append(phrase.strip())
    stems: set[str] = set()
    for chunk in parsed.words:
        words = _WORD.findall(chunk)
        if len(words) > 1:  # "x-ray", "GPT-4": a phrase of its parts
            if chunk not in seen:
                seen.add(chunk)
                out.append(chunk)
            continue
        for word in words:
            if not _is_stop(word) and stem(word) not in stems:
                stems.add(stem(word))
                out.append(word)
    return out


@dataclass(frozen=True, slots=True)
class _Matcher:
    words: frozenset[str]  # stems of single words
    phrases: tuple[tuple[str, ...], ...]  # stems of each phrase's words, longest first
    starts: frozenset[str]  # every stem that can start a match: words and phrases' first


@lru_cache(maxsize=1024)
def _matcher(marked: tuple[str, ...]) -> _Matcher:
    words: set[str] = set()
    phrases: set[tuple[str, ...]] = set()
    for term in marked:
        parts = _WORD.findall(term)
        if len(parts) == 1 and not _is_stop(parts[0]):
            words.add(stem(parts[0]))
        elif len(parts) > 1:
            phrases.add(tuple(stem(p) for p in parts))
    ordered = tuple(sorted(phrases, key=len, reverse=True))
    return _Matcher(frozenset(words), ordered, frozenset(words | {p[0] for p in ordered}))


def spans(text: str, marked: list[str] | tuple[str, ...]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_match) for the terms (from `terms`): a phrase marks its words
    and what lies between them as one piece; a word marks one whole word."""
    matcher = _matcher(tuple(marked))
    if not text or not (matcher.words or matcher.phrases):
        return [(text, False)]
    tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    stems = [stem(t[2]) for t in tokens]
    pieces: list[tuple[str, bool]] = []
    last = i = 0
    while i < len(tokens):
        if stems[i] not in matcher.starts:
            i += 1
            continue
        end = _phrase_at(stems, i, matcher.phrases)
        if end is None and stems[i] in matcher.words and not _is_stop(tokens[i][2]):
            end = i + 1
        if end is None:
            i += 1
            continue
        start, stop = tokens[i][0], tokens[end - 1][1]
        if start > last:
            pieces.append((text[last:start], False))
        pieces.append((text[start:stop], True))
        last, i = stop, end
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces


def _phrase_at(stems: list[str], i: int, phrases: tuple[tuple[str, ...], ...]) -> int | None:
    for phrase in phrases:
        if tuple(stems[i : i + len(phrase)]) == phrase:
            return i + len(phrase)
    return None
