"""Synthetic arXiv papers in the arXiv metadata snapshot format, for speed benchmarks.

Why: the import, keyword-search and ranking benchmarks need arXiv-scale corpora (10^5 to 10^6
papers), and the real 4.5 GB Kaggle snapshot cannot be downloaded on this offline machine. The
~1,700 real papers in the repository (the tests' arXiv metadata fixtures in tests/data and the
package's seed papers) are far too few to time anything, so this module learns from them and
writes as many look-alike papers as asked, one JSON object per line, with the keys of
`arxiv-metadata-oai-snapshot.json` (id, submitter, authors, title, comments, journal-ref, doi,
report-no, categories, license, abstract, versions, update_date, authors_parsed).

How: titles and abstracts are stitched together from short spans (2 to 8 words) of the real
titles and abstracts, picked uniformly at random, so word frequencies stay Zipfian as in the real
text and neighbouring words mostly read like real bigrams; lengths in words are drawn from the
real lengths. Each paper belongs to one of 200 topics, and a topic sprinkles its 6 words (real
mid-frequency words) into its papers, so mid-frequency keyword queries get clustered, realistic
hit counts. About one word per abstract comes from a long Zipfian tail of made-up words (real
word heads + real word endings) so the vocabulary keeps growing with the corpus as real
vocabularies do. Authors are real first and last names shuffled; categories, comments,
journal-refs and report numbers are drawn from the real ones; ids are YYMM.NNNNN, in order and
sequential within each month, with submission volume growing ~9 % a year from 2007-04 to
2026-03; 1-3 versions; 5 % of papers carry a (made-up) DOI. The same seed gives byte-identical
output. Only the standard library is used, so it runs in the project's virtual environment.

What it does not do: the text is not meaningful (it is shuffled real phrases, so semantic or
embedding benchmarks measure speed only, never quality); words never seen in the ~266,000 real
words can only come from the made-up tail; LaTeX may be cut mid-formula; topic and category are
only loosely tied; nothing models citations, withdrawn papers, old-style ids (hep-th/9901001)
or duplicate records.

    .venv/bin/python bench/synth.py 200000 /tmp/synth200k.jsonl [--seed 0]
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import random
import re
import time
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any, NamedTuple

# The real papers, all in the repository; the benches take these names from here.
ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "fixtures" / "arxiv_metadata"
KAGGLE = REAL / "kaggle_snapshot_first1000" / "arxiv_data_fixed.jsonl"
API_RECENT = REAL / "api_recent_500_2026" / "arxiv_papers.json"
SEED_PAPERS = ROOT / "src" / "paperfeed" / "data" / "seed_papers.jsonl"

N_TOPICS = 200
TOPIC_WORDS = 6
TOPIC_DF = (0.002, 0.02)  # real document-frequency band the topic words come from
SPAN_MIN, SPAN_MAX = 2, 8  # words per span of real text
P_TOPIC = 0.12  # chance, after each span, of adding one topic word (~3 per abstract)
P_TAIL = 0.04  # chance, after each span, of adding one made-up tail word (~1 per abstract)
TAIL_SIZE = 2_000_000  # distinct made-up words, Zipfian
TAIL_RANK0 = 20_000  # the tail continues the real vocabulary's Zipf curve from this rank
P_TOPIC_CATEGORY = 0.7
P_DOI = 0.05
VERSION_WEIGHTS = (0.62, 0.27, 0.11)  # 1, 2, 3 versions
FIRST_MONTH, LAST_MONTH = (2007, 4), (2026, 3)
YEARLY_GROWTH = 1.09
END = datetime(2026, 4, 1, tzinfo=UTC) - timedelta(seconds=1)
ABSTRACT_LINE_WORDS = 12  # the snapshot wraps abstracts at ~80 columns
TITLE_LINE_WORDS = 10
LICENSES = (
    ("http://arxiv.org/licenses/nonexclusive-distrib/1.0/", 0.62),
    ("http://creativecommons.org/licenses/by/4.0/", 0.24),
    ("http://creativecommons.org/licenses/by-nc-sa/4.0/", 0.05),
    ("http://creativecommons.org/licenses/by-nc-nd/4.0/", 0.04),
    ("http://creativecommons.org/licenses/by-sa/4.0/", 0.02),
    ("http://creativecommons.org/publicdomain/zero/1.0/", 0.02),
    ("http://creativecommons.org/licenses/by/3.0/", 0.01),
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WORD_RE = re.compile(r"[a-z]+")
LATEX_RE = re.compile(r"\\([a-z]+)")
_STOPWORDS = """
a about above after also an and any are as at be been being both but by can could did do does
each for from had has have here how however i if in into is it its may more most no not of on one
only or other our over such than that the their them then there these they this those through
thus to two under up upon using very via was we were what when where which while who whose why
will with within without would all among because between due even find found first further
given just like many much new non often out per same should show shown since so some well whether
"""
STOPWORDS = frozenset(_STOPWORDS.split())
QUESTIONS = (
    "how can we remove the influence of training examples from a trained model",
    "why do overparameterized neural networks generalize well",
    "how to defend federated learning against gradient inversion attacks",
    "can large language models reliably solve math word problems",
    "what limits the fidelity of quantum error correction on noisy hardware",
    "how do dark matter halos shape galaxy rotation curves",
    "what is the phase diagram of the Hubbard model at low temperature",
    "how are gravitational waves from binary neutron star mergers detected",
    "which algorithms decompose sparse graphs into trees efficiently",
    "how accurate are next-to-leading order QCD predictions at hadron colliders",
)


class Model(NamedTuple):
    """What is learnt from the real papers; built once per process by `model()`."""

    abstract_stream: list[str]  # every real abstract's words, one after the other
    title_stream: list[str]
    abstract_lengths: list[int]
    title_lengths: list[int]
    df: dict[str, int]  # content word -> number of real papers containing it
    n_docs: int
    bigrams: list[str]  # most frequent content-word bigrams, most frequent first
    categories: list[str]
    firsts: list[str]
    lasts: list[str]
    suffixes: list[str]
    author_counts: list[int]
    comments: list[str | None]
    journal_refs: list[str | None]
    report_nos: list[str | None]
    doi_prefixes: list[str]
    tail_heads: list[str]
    tail_ends: list[str]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _parsed_authors(row: dict[str, Any]) -> list[list[str]]:
    value = row.get("authors_parsed")
    if isinstance(value, str):  # 35 fixture rows hold the Python repr of the list
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return []
    if not isinstance(value, list):
        return []
    return [a for a in value if isinstance(a, list) and len(a) >= 2 and all(map(_is_str, a))]


def _is_str(x: object) -> bool:
    return isinstance(x, str)


def _api_authors(row: dict[str, Any]) -> list[list[str]]:
    names = [n.strip().rsplit(" ", 1) for n in row.get("authors", []) if n.strip()]
    return [[n[-1], n[0] if len(n) == 2 else "", ""] for n in names]


def _categories(row: dict[str, Any]) -> str:
    value = row.get("categories") or ""
    parts = value.split() if isinstance(value, str) else value
    return " ".join(dict.fromkeys(parts))


def _word_stats(texts: list[str]) -> tuple[dict[str, int], list[str]]:
    """Document frequency of content words, and the most frequent content-word bigrams."""
    skip = STOPWORDS | set(LATEX_RE.findall("\n".join(texts).lower()))
    df: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for text in texts:
        lower = text.lower()
        df.update(set(WORD_RE.findall(lower)))
        pairs.update(_bigrams(lower.split(), skip))
    content = {w: d for w, d in sorted(df.items()) if len(w) >= 3 and w not in skip}
    return content, [p for p, _ in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:50]]


def _bigrams(tokens: list[str], skip: set[str] | frozenset[str]) -> Iterator[str]:
    """Adjacent plain words ("dark matter,"), not across brackets, URLs or formulas."""
    for a, b in pairwise(tokens):
        b = b.rstrip(".,;:")
        if all(w.isalpha() and w.isascii() and len(w) >= 3 and w not in skip for w in (a, b)):
            yield f"{a} {b}"


def _tail_parts(words: Iterable[str]) -> tuple[list[str], list[str]]:
    long = [w for w in words if len(w) >= 7]
    return sorted({w[:4] for w in long}), sorted({w[-4:] for w in long})


def _people(kaggle: list[dict[str, Any]], api: list[dict[str, Any]]) -> list[list[list[str]]]:
    papers = [_parsed_authors(r) for r in kaggle] + [_api_authors(r) for r in api]
    return [p for p in papers if p]


@lru_cache(maxsize=1)
def model() -> Model:
    kaggle = _jsonl(KAGGLE)
    api = json.loads(API_RECENT.read_text(encoding="utf-8"))
    rows = kaggle + _jsonl(SEED_PAPERS) + api
    abstracts = [r["abstract"].split() for r in rows]
    titles = [r["title"].split() for r in rows]
    df, bigrams = _word_stats([f"{r['title']}\n{r['abstract']}" for r in rows])
    people = _people(kaggle, api)
    names = [a for p in people for a in p]
    heads, ends = _tail_parts(df)
    return Model(
        abstract_stream=[w for a in abstracts for w in a],
        title_stream=[w for t in titles for w in t],
        abstract_lengths=[len(a) for a in abstracts],
        title_lengths=[len(t) for t in titles],
        df=df,
        n_docs=len(rows),
        bigrams=bigrams,
        categories=[c for c in map(_categories, kaggle + api) if c],
        firsts=[a[1] for a in names if a[1]],
        lasts=[a[0] for a in names if a[0]],
        suffixes=[a[2] if len(a) > 2 else "" for a in names],
        author_counts=[len(p) for p in people],
        comments=[r.get("comments") or None for r in kaggle],
        journal_refs=[r.get("journal-ref") or None for r in kaggle],
        report_nos=[r.get("report-no") or None for r in kaggle],
        doi_prefixes=[
            d.split("/")[0] for r in kaggle if (d := r.get("doi") or "").startswith("10.")
        ],
        tail_heads=heads,
        tail_ends=ends,
    )


def word_frequencies() -> dict[str, int]:
    """Content word (lower case, letters only) -> number of real papers it occurs in."""
    return dict(model().df)


class Topic(NamedTuple):
    words: tuple[str, ...]
    category: str


@lru_cache(maxsize=8)
def topics(seed: int = 0) -> tuple[Topic, ...]:
    """The seed's topics: each has TOPIC_WORDS real words of mid-to-low document frequency."""
    m = model()
    lo, hi = TOPIC_DF[0] * m.n_docs, TOPIC_DF[1] * m.n_docs
    band = [w for w, d in m.df.items() if lo <= d <= hi and len(w) >= 5]
    rng = random.Random(f"paperfeed-synth-topics-{seed}")
    words = rng.sample(band, N_TOPICS * TOPIC_WORDS)
    return tuple(
        Topic(tuple(words[i * TOPIC_WORDS : (i + 1) * TOPIC_WORDS]), rng.choice(m.categories))
        for i in range(N_TOPICS)
    )


def _months(n: int) -> list[tuple[int, int]]:
    """The (year, month) of paper i, for every i: volume grows YEARLY_GROWTH a year."""
    (y0, m0), (y1, m1) = FIRST_MONTH, LAST_MONTH
    count = (y1 - y0) * 12 + m1 - m0 + 1
    months = [(y0 + (m0 - 1 + k) // 12, (m0 - 1 + k) % 12 + 1) for k in range(count)]
    cum = list(accumulate(YEARLY_GROWTH ** (k / 12) for k in range(count)))
    return [months[min(bisect(cum, (i + 0.5) / n * cum[-1]), count - 1)] for i in range(n)]


def _stamp(d: datetime) -> str:
    return f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year} {d:%H:%M:%S} GMT"


def _wrap(words: list[str], per_line: int, sep: str) -> str:
    if len(words) <= per_line:
        return " ".join(words)
    return sep.join(" ".join(words[i : i + per_line]) for i in range(0, len(words), per_line))


class _Generator:
    """Papers one at a time; all randomness comes from one `random.Random(seed)`."""

    def __init__(self, n: int, seed: int) -> None:
        self.m = model()
        self.topics = topics(seed)
        self.rnd: Callable[[], float] = random.Random(seed).random
        self.months = _months(n)
        self.month: tuple[int, int] = (0, 0)
        self.seq = 0
        self.log_tail = math.log((TAIL_RANK0 + TAIL_SIZE) / TAIL_RANK0)
        self.cum_licenses = list(accumulate(w for _, w in LICENSES))

    def pick(self, items: list[Any]) -> Any:
        return items[int(self.rnd() * len(items))]

    def tail_word(self) -> str:
        rank = int(TAIL_RANK0 * math.exp(self.rnd() * self.log_tail)) - TAIL_RANK0
        heads, ends = self.m.tail_heads, self.m.tail_ends
        return heads[rank % len(heads)] + ends[(rank // len(heads)) % len(ends)]

    def words(self, stream: list[str], n: int, topic: Topic) -> list[str]:
        """n words: spans of real text, now and then a topic word or a tail word."""
        rnd, limit = self.rnd, len(stream) - SPAN_MAX
        out: list[str] = []
        width = SPAN_MAX - SPAN_MIN + 1
        while len(out) < n:
            x = rnd() * limit
            start = int(x)
            out += stream[start : start + SPAN_MIN + int((x - start) * width)]
            u = rnd()
            if u < P_TOPIC:
                out.append(topic.words[int(u / P_TOPIC * TOPIC_WORDS)])
            elif u < P_TOPIC + P_TAIL:
                out.append(self.tail_word())
        del out[n:]
        return out

    def text(self, topic: Topic) -> tuple[str, str]:
        m = self.m
        title = self.words(m.title_stream, self.pick(m.title_lengths), topic)
        title[0] = title[0][:1].upper() + title[0][1:]
        abstract = self.words(m.abstract_stream, self.pick(m.abstract_lengths), topic)
        abstract[0] = abstract[0][:1].upper() + abstract[0][1:]
        body = _wrap(abstract, ABSTRACT_LINE_WORDS, "\n")
        return _wrap(title, TITLE_LINE_WORDS, "\n  "), f"  {body}\n"

    def next_id(self, i: int) -> tuple[str, int, int]:
        month = self.months[i]
        self.seq = self.seq + 1 if month == self.month else 1
        self.month = month
        year, mon = month
        return f"{year % 100:02d}{mon:02d}.{self.seq:05d}", year, mon

    def versions(self, year: int, mon: int) -> tuple[list[dict[str, str]], str]:
        days = (datetime(year + mon // 12, mon % 12 + 1, 1) - datetime(year, mon, 1)).days
        created = datetime(year, mon, 1, tzinfo=UTC) + timedelta(
            seconds=int(self.rnd() * days * 86400)
        )
        u, stamps = self.rnd(), [created]
        for w in accumulate(VERSION_WEIGHTS[:-1]):
            if u < w:
                break
            stamps.append(min(END, stamps[-1] + timedelta(seconds=3600 + int(self.rnd() * 1.7e7))))
        updated = min(END, stamps[-1] + timedelta(days=int(self.rnd() * 30)))
        versions = [{"version": f"v{k + 1}", "created": _stamp(d)} for k, d in enumerate(stamps)]
        return versions, updated.date().isoformat()

    def authors(self) -> tuple[str, str, list[list[str]]]:
        m = self.m
        parsed = [
            [self.pick(m.lasts), self.pick(m.firsts), self.pick(m.suffixes)]
            for _ in range(self.pick(m.author_counts))
        ]
        names = [f"{first} {last}" + (f" {sfx}" if sfx else "") for last, first, sfx in parsed]
        joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return self.pick(names), joined, parsed

    def license(self, year: int) -> str | None:
        if year < 2008:
            return None
        return LICENSES[bisect(self.cum_licenses, self.rnd() * self.cum_licenses[-1])][0]

    def paper(self, i: int) -> dict[str, Any]:
        m, topic = self.m, self.topics[int(self.rnd() * N_TOPICS)]
        arxiv_id, year, mon = self.next_id(i)
        title, abstract = self.text(topic)
        submitter, authors, parsed = self.authors()
        versions, update_date = self.versions(year, mon)
        doi = f"{self.pick(m.doi_prefixes)}/synth.{arxiv_id}" if self.rnd() < P_DOI else None
        own = self.rnd() < P_TOPIC_CATEGORY
        return {
            "id": arxiv_id,
            "submitter": submitter,
            "authors": authors,
            "title": title,
            "comments": self.pick(m.comments),
            "journal-ref": self.pick(m.journal_refs),
            "doi": doi,
            "report-no": self.pick(m.report_nos),
            "categories": topic.category if own else self.pick(m.categories),
            "license": self.license(year),
            "abstract": abstract,
            "versions": versions,
            "update_date": update_date,
            "authors_parsed": parsed,
        }


def iter_papers(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """n synthetic papers as snapshot-format dicts, in id order; the same seed, the same papers."""
    gen = _Generator(n, seed)
    for i in range(n):
        yield gen.paper(i)


def generate(n: int, out_path: Path, seed: int = 0) -> None:
    """Write n synthetic papers to out_path as JSON lines (UTF-8), streaming."""
    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    with Path(out_path).open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as f:
        for paper in iter_papers(n, seed):
            f.write(encode(paper))
            f.write("\n")


def sample_queries(seed: int = 0) -> dict[str, list[str]]:
    """Fixed query sets for speed benchmarks, chosen deterministically from the real frequencies.

    rare: 10 words in one real paper each (~0.04 % of synthetic papers contain each);
    mid: 10 topic words of this seed's topics (~0.3-2 % of papers); common: the most frequent
    content words and bigrams (10-40 % of papers); questions: 10 natural-language questions.
    """
    m, rng = model(), random.Random(f"paperfeed-synth-queries-{seed}")
    rare = [w for w, d in m.df.items() if d == 1 and len(w) >= 8]
    common = sorted(m.df, key=lambda w: (-m.df[w], w))[:20]
    return {
        "rare": rng.sample(rare, 10),
        "mid": [topics(seed)[t].words[0] for t in rng.sample(range(N_TOPICS), 10)],
        "common": rng.sample(common, 6) + rng.sample(m.bigrams[:20], 4),
        "questions": list(QUESTIONS),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", type=int, help="number of papers")
    ap.add_argument("out", type=Path, help="output .jsonl path")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    generate(args.n, args.out, args.seed)
    dt = time.perf_counter() - t
    mb = args.out.stat().st_size / 1e6
    print(
        f"{args.n:,} papers -> {args.out} ({mb:,.1f} MB) in {dt:.1f}s: {args.n / dt:,.0f} papers/s"
    )


if __name__ == "__main__":
    main()
