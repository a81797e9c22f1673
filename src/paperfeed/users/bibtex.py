"""BibTeX out, identifiers in: how a personal library meets reference managers.

Users take their saved papers to LaTeX and Zotero as BibTeX, and bring a reading list in by
pasting arXiv ids, DOIs or a whole `.bib` file. Both directions live here as pure functions of
text and `Paper` records, so the web route and the CLI share one behaviour and one test suite.

What this module must not do: touch the store, the network or the file system (callers look
each `ImportItem.ref` up with `Store.get_paper`); raise on any text a user gives it (every
problem becomes one sentence in `ImportResult.problems`); or write a value that can end a
BibTeX field or entry early, whatever a paper's title holds.
"""

from __future__ import annotations

import itertools
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from paperfeed.models import Paper, collapse_space, normalize_doi, parse_arxiv_id

MAX_IMPORT_ITEMS = 5000
MAX_READ = 2 * MAX_IMPORT_ITEMS  # ids, other tokens and entries read, duplicates included
MAX_PROBLEMS = 100  # a pasted novel should not answer with a novel of complaints

# -- export ------------------------------------------------------------------------------------

_ARXIV_DOI_PREFIX = "10.48550/arxiv."  # arXiv's own DataCite DOIs name the preprint itself
_STOPWORDS = frozenset(
    {"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "is", "are", "at", "by"}
)
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
_CONTROL_WORD = re.compile(r"\\[A-Za-z]+")
_NOT_KEY_CHAR = re.compile(r"[^a-z0-9]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LATEX_LINE_BREAK = re.compile(r"\\\\")
# A LaTeX escape (backslash and the next character), a lone trailing backslash, one special
# character, or a run of ordinary text: every character of a value falls in exactly one token.
_TOKEN = re.compile(r"\\.|\\$|[{}$%&#_^]|[^\\{}$%&#_^]+", re.S)
_ESCAPE_ALWAYS = {"%": r"\%", "&": r"\&", "#": r"\#", "\\": r"\textbackslash{}"}
_ESCAPE_IN_TEXT = {"_": r"\_", "^": r"\^{}"}
_CLOSER = {"{": "}", "\\{": "\\}"}
_BRACE_WORDS = {
    ("{", False): r"\textbraceleft{}",
    ("}", False): r"\textbraceright{}",
    ("{", True): r"\lbrace{}",
    ("}", True): r"\rbrace{}",
}
_UNSAFE_VERBATIM = re.compile(r"[{}\\\s\x00-\x1f\x7f-\x9f]")


def format_bibtex(papers: Sequence[Paper]) -> str:
    """One BibTeX entry per paper, in the order given, separated by blank lines.

    The entry is `@article` when the paper has a DOI outside arXiv's own `10.48550/arXiv.*`
    (it was published somewhere), else `@misc`, as arXiv's own "Export BibTeX" writes
    preprints. Fields, each only when known: title (in double braces, to keep its capitals),
    author ("A and B"), year (of first publication), eprint (arXiv id without version),
    archivePrefix, primaryClass (first category), doi, url and abstract.

    Keys read `lastname2024firstword`, ASCII-folded and lower-case; a repeated key gets `a`,
    `b`, ... appended, so keys are unique within one export. Text stays UTF-8 (biber and
    modern BibTeX read it) and keeps its LaTeX when its braces balance; see `_safe_text` for
    what is escaped. No value holds a newline, so no `@` can start a line inside an entry.
    """
    keys = _unique_keys([_base_key(p) for p in papers])
    return "\n".join(_format_entry(p, k) for p, k in zip(papers, keys, strict=True))


def _format_entry(paper: Paper, key: str) -> str:
    doi = (paper.doi or "").lower()
    kind = "article" if doi and not doi.startswith(_ARXIV_DOI_PREFIX) else "misc"
    lines = [f"  {name} = {{{value}}}" for name, value in _entry_fields(paper)]
    return f"@{kind}{{{key},\n" + ",\n".join(lines) + "\n}\n"


def _entry_fields(paper: Paper) -> list[tuple[str, str]]:
    parsed = parse_arxiv_id(paper.arxiv_id) if paper.arxiv_id else None
    arxiv_id = parsed[0] if parsed else ""
    url = (paper.url or "").strip()
    url = url if url.lower().startswith(("https://", "http://")) else ""  # no javascript: links
    url = url or (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else "")
    url = url or (f"https://doi.org/{paper.doi}" if paper.doi else "")
    title = _safe_text(paper.title)
    fields = [
        ("title", "{" + title + "}" if title else ""),
        ("author", _author_list(paper.authors)),
        ("year", str(paper.published.year) if paper.published else ""),
        ("eprint", arxiv_id),
        ("archivePrefix", "arXiv" if arxiv_id else ""),
        (
            "primaryClass",
            _safe_verbatim(paper.categories[0]) if arxiv_id and paper.categories else "",
        ),
        ("doi", _safe_verbatim(paper.doi or "")),
        ("url", _safe_verbatim(url)),
        ("abstract", _safe_text(paper.abstract)),
    ]
    return [(name, value) for name, value in fields if value]


def _author_list(authors: Sequence[str]) -> str:
    names = (_safe_text(a) for a in authors)
    return " and ".join(_protect_name(n) for n in names if n)


def _protect_name(name: str) -> str:
    """Braces keep a name whole when it holds the word "and", BibTeX's name separator."""
    return "{" + name + "}" if "and" in name.lower().split() else name


def _safe_text(text: str) -> str:
    """A title, name or abstract made safe inside `{...}`: BibTeX and bibtexparser both must
    find the value's own closing brace, and LaTeX must typeset it without an error.

    White space (newlines included) collapses to single spaces, control characters and the
    LaTeX line break `\\\\` become spaces. `%`, `&` and `#` are escaped everywhere, `_` and
    `^` outside `$...$`; an unpaired `$` is escaped. Braces that pair up stay as they are (so
    `$\\{x\\}$` and `\\emph{x}` survive); an unpaired brace becomes `\\textbraceleft{}` or
    `\\textbraceright{}` (`\\lbrace{}`/`\\rbrace{}` in math). A trailing lone backslash
    becomes `\\textbackslash{}`, so no backslash can escape the closing brace.
    """
    flat = collapse_space(_LATEX_LINE_BREAK.sub(" ", _CONTROL_CHARS.sub(" ", text)))
    tokens = _pair_dollars(_TOKEN.findall(flat))
    in_math = _math_flags(tokens)
    escaped = [_escape(tok, math) for tok, math in zip(tokens, in_math, strict=True)]
    for i in _unmatched_braces(escaped):
        escaped[i] = _BRACE_WORDS[(escaped[i][-1], in_math[i])]
    return "".join(escaped)


def _pair_dollars(tokens: list[str]) -> list[str]:
    """An odd `$` would leave the rest of the value in math mode: escape the last one."""
    dollars = [i for i, tok in enumerate(tokens) if tok == "$"]
    if len(dollars) % 2:
        tokens[dollars[-1]] = r"\$"
    return tokens


def _math_flags(tokens: Sequence[str]) -> list[bool]:
    flags, inside = [], False
    for tok in tokens:
        inside = inside != (tok == "$")
        flags.append(inside)
    return flags


def _escape(token: str, in_math: bool) -> str:
    if token in _ESCAPE_ALWAYS:
        return _ESCAPE_ALWAYS[token]
    return token if in_math else _ESCAPE_IN_TEXT.get(token, token)


def _unmatched_braces(tokens: Sequence[str]) -> list[int]:
    """Indexes of braces without a partner. `{...}` pairs and `\\{...\\}` pairs must each nest
    properly: BibTeX counts every brace, bibtexparser skips those after a backslash, and a
    value is safe only when both counts balance."""
    open_at: list[int] = []
    unmatched: list[int] = []
    for i, tok in enumerate(tokens):
        if tok in _CLOSER:
            open_at.append(i)
        elif tok in ("}", "\\}"):
            if open_at and _CLOSER[tokens[open_at[-1]]] == tok:
                open_at.pop()
            else:
                unmatched.append(i)
    return unmatched + open_at


def _safe_verbatim(text: str) -> str:
    """URLs, DOIs and categories are not LaTeX-escaped (url and doi fields are read verbatim),
    but braces, backslashes and white space are percent-encoded, so the value cannot end the
    field or the entry."""
    return _UNSAFE_VERBATIM.sub(lambda m: quote(m.group(), safe=""), text.strip())


def _base_key(paper: Paper) -> str:
    year = str(paper.published.year) if paper.published else ""
    return (_last_name(paper.authors) + year + _first_word(paper.title)) or "paper"


def _fold(text: str) -> str:
    """ASCII letters and digits only, accents dropped: "Gödel" -> "godel"."""
    return _NOT_KEY_CHAR.sub("", unicodedata.normalize("NFKD", text.casefold()))


def _last_name(authors: Sequence[str]) -> str:
    for author in authors:
        name = author.split(",")[0] if "," in author else author  # "Last, First" form
        parts = [p for p in map(_fold, name.split()) if p and p not in _NAME_SUFFIXES]
        if parts:
            return parts[-1]
    return ""


def _first_word(title: str) -> str:
    words = [w for w in map(_fold, _CONTROL_WORD.sub(" ", title).split()) if w]
    content = [w for w in words if w not in _STOPWORDS]
    return (content or words or [""])[0]


def _unique_keys(bases: Sequence[str]) -> list[str]:
    used: set[str] = set()
    counters: dict[str, int] = {}
    keys = []
    for base in bases:
        key = base
        while key in used:
            counters[base] = counters.get(base, 0) + 1
            key = base + _letters(counters[base])
        used.add(key)
        keys.append(key)
    return keys


def _letters(n: int) -> str:
    """1 -> "a", 26 -> "z", 27 -> "aa": suffixes that never run out."""
    out = ""
    while n > 0:
        n, rest = divmod(n - 1, 26)
        out = chr(ord("a") + rest) + out
    return out


# -- import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportItem:
    """One paper to look up. `ref` is an arXiv id without version (`2410.17243`,
    `hep-th/9901001`) or a lower-case DOI without prefix (`10.1145/1234`), both as
    `Store.get_paper` accepts them; `line` (from 1) is where it stood in the text."""

    ref: str
    line: int


@dataclass(frozen=True)
class ImportResult:
    """The refs found, in order and without duplicates, and one sentence per problem."""

    items: list[ImportItem]
    problems: list[str]


def parse_import(text: str, *, budget_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> ImportResult:  # fmt: skip
    """Read what a user pasted or uploaded: a BibTeX file, or a plain list of identifiers.

    Text with an `@type{` entry in it is read as BibTeX (see `parse_bibtex`); anything else as
    identifiers separated by white space or commas, with blank lines and `#` comments ignored.
    An identifier is an arXiv id in any usual spelling (`2410.17243v2`, `arXiv:2410.17243`,
    `hep-th/9901001`, an abs, pdf or html URL) or a DOI (`10.1145/1234`, `doi:...`, a doi.org
    URL); arXiv's own DOIs come back as arXiv ids. The first of duplicates is kept, and no
    more than MAX_IMPORT_ITEMS items. Never raises: what cannot be read is a problem.

    The work is bounded whatever the text: time linear in its length, at most MAX_READ ids,
    other tokens and entries read, and (a backstop) reading stops once `budget_s` seconds of
    `clock` have passed; each stop is a problem that says where.
    """
    deadline = math.inf if budget_s is None else clock() + budget_s
    out = _Collector(deadline=deadline, clock=clock, budget_s=budget_s or 0.0)
    text = text.removeprefix("\ufeff")
    if _ENTRY_START.search(text):
        _collect_bibtex(text, out)
    else:
        _collect_plain(text, out)
    return ImportResult(items=out.items, problems=out.problems)


@dataclass
class _Collector:
    deadline: float = math.inf
    clock: Callable[[], float] = time.monotonic
    budget_s: float = 0.0
    items: list[ImportItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    problem_count: int = 0
    read: int = 0
    is_full: bool = False  # nothing more is read

    def add(self, ref: str, line: int) -> None:
        if ref in self.seen or self.is_full:
            return
        if len(self.items) >= MAX_IMPORT_ITEMS:
            self.is_full = True
            self.problems.append(
                f"The import holds more than {MAX_IMPORT_ITEMS:,} papers; "
                f"only the first {MAX_IMPORT_ITEMS:,} were kept."
            )
            return
        self.seen.add(ref)
        self.items.append(ImportItem(ref=ref, line=line))

    def problem(self, sentence: str) -> None:
        self.problem_count += 1
        if self.problem_count <= MAX_PROBLEMS:
            self.problems.append(sentence)
        elif self.problem_count == MAX_PROBLEMS + 1:
            self.problems.append(f"Only the first {MAX_PROBLEMS} problems are listed.")

    def may_read(self, line: int) -> bool:
        """Count one more id, token or entry (at `line`); False once reading must stop."""
        self.read += 1
        if self.is_full:
            return False
        if self.read > MAX_READ:
            why = f"it holds more than {MAX_READ:,} ids or entries"
        elif self.clock() > self.deadline:
            why = f"reading it took more than {self.budget_s:g} s"
        else:
            return True
        self.is_full = True
        self.problems.append(f"Reading stopped at line {line:,}: {why}; import the rest on "
                             "its own.")  # fmt: skip
        return False


# -- plain lists of identifiers ----------------------------------------------------------------

_PLAIN_TOKEN = re.compile(r"[^\s,]+")
_BARE_PREFIX = re.compile(r"\b(?:arxiv|doi):$", re.I)  # a token's end, spaced from its id
_ARXIV_URL = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(.+?)(?:\.pdf)?/?$", re.I
)
_DOI_URL = re.compile(r"^(?:https?://)?(?:dx\.|www\.)?doi\.org/", re.I)
_DOI_SHAPE = re.compile(r"10\.\d{4,9}/\S+")
_URL_TAIL = re.compile(r"[?#].*$", re.S)
_LINE = re.compile(r"[^\n]+")


def _collect_plain(text: str, out: _Collector) -> None:
    for number, line in _lines(text):
        is_empty = True
        for token in _tokens(line):
            is_empty = False
            if not out.may_read(number):
                return
            ref = parse_ref(token)
            if ref:
                out.add(ref, number)
            else:
                out.problem(
                    f"Line {number}: '{_shorten(token)}' is not an arXiv id, a DOI "
                    "or a BibTeX entry."
                )
        if is_empty and not out.may_read(number):  # a comment line counts as one thing read
            return


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(number from 1, line) of the lines that hold more than white space, made one at a
    time (no list of every line)."""
    number, counted_to = 1, 0
    for found in _LINE.finditer(text):
        if found.group().isspace():
            continue
        number += text.count("\n", counted_to, found.start())
        counted_to = found.start()
        yield number, found.group()


def _tokens(line: str) -> Iterator[str]:
    """The tokens of a line before its `#` comment, split at white space and commas, with a
    prefix spaced from its id joined to it (`arXiv: 2410.17243`, `doi: 10.1145/1234`). Token
    by token, so that a 2 MB line costs no regex pass over all of it."""
    parts: list[str] = []  # a token and the ones joined to it
    end = 0
    for found in _PLAIN_TOKEN.finditer(line):
        token = found.group()
        if token.startswith("#") and (found.start() == 0 or line[found.start() - 1].isspace()):
            break
        if parts and not line[end : found.start()].isspace():
            yield "".join(parts)
            parts = []
        parts.append(token)
        end = found.end()
        if not _BARE_PREFIX.search(token[-7:]):  # (its last 7 characters: the word and one more)
            yield "".join(parts)
            parts = []
    if parts:
        yield "".join(parts)


def parse_ref(token: str) -> str | None:
    """One identifier as the store looks it up: an arXiv id without version, or a lower-case
    DOI; None when `token` is neither."""
    s = token.strip().strip("\"'<>").rstrip(".;")
    if "://" in s or s.lower().startswith(("arxiv.org/", "doi.org/", "dx.doi.org/")):
        s = _URL_TAIL.sub("", s)
    url = _ARXIV_URL.match(s)
    parsed = parse_arxiv_id(url.group(1) if url else s)
    if parsed:
        return parsed[0]
    return _doi_ref(s)


def _doi_ref(text: str) -> str | None:
    if _DOI_URL.match(text):
        text = unquote(_DOI_URL.sub("", text))
    doi = normalize_doi(text)
    if doi is None or not _DOI_SHAPE.fullmatch(doi):
        return None
    if doi.startswith(_ARXIV_DOI_PREFIX):
        parsed = parse_arxiv_id(doi.removeprefix(_ARXIV_DOI_PREFIX))
        return parsed[0] if parsed else doi
    return doi


def _shorten(text: str, limit: int = 60) -> str:
    flat = collapse_space(text)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# -- BibTeX ------------------------------------------------------------------------------------

_ENTRY_START = re.compile(r"@[ \t\r\n]*([A-Za-z][\w\-]*)[ \t\r\n]*([{(])")
_LINE_ENTRY = r"\n[ \t]*@[ \t]*[A-Za-z][\w\-]*[ \t]*[{(]"
_NEXT_LINE_ENTRY = re.compile(_LINE_ENTRY)
_BRACE_MARKS = re.compile(r"[{}]|" + _LINE_ENTRY)
_QUOTE_MARKS = re.compile(r'[{}"]|' + _LINE_ENTRY)
_BRACE_RUNS = re.compile(r"{+|}+")
_SPACE = re.compile(r"\s*")
_SPACE_COMMAS = re.compile(r"[\s,]*")
_KEY = re.compile(r"\s*([^\s,{}()=\"#]*)\s*")
_FIELD_NAME = re.compile(r"([A-Za-z_][\w\-:.+]*)\s*=\s*")
_BARE_VALUE = re.compile(r"[^\s,#{}\"()=]+")
_SKIPPED_BLOCKS = frozenset({"comment", "string", "preamble"})
_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|arxiv:\s*)"
    r"(\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[a-z\-]{2,})?/\d{7})",
    re.I,
)
_TEXT_FIELDS = ("url", "journal", "note", "howpublished", "booktitle")
_LATEX_ESCAPED = re.compile(r"\\([_%&#$~])")


class _Malformed(Exception):
    """Why an entry cannot be read. Internal: caught per entry, never leaves this module."""


@dataclass
class _Cursor:
    text: str
    pos: int
    close: str  # "}" or ")", whichever closes the entry being read


@dataclass(frozen=True)
class _RawEntry:
    line: int
    entry_type: str
    key: str
    fields: dict[str, str]
    error: str = ""  # why the entry could not be read; empty when it could
    is_skipped: bool = False  # a @comment, @string or @preamble block


def parse_bibtex(text: str) -> list[dict[str, str]]:
    """The entries of a BibTeX text that can be read, each a dict of its fields (names
    lower-cased; values without their outer braces or quotes, white space collapsed, `#`
    parts joined, macros left as their names) plus "ENTRYTYPE" (lower-case) and "ID".

    Tolerant on purpose: text outside entries is ignored, as BibTeX does; `@comment`,
    `@string` and `@preamble` are skipped; an entry that cannot be read is left out and
    reading goes on at the next `@` that starts a line. Never raises.
    """
    return [
        {**entry.fields, "ENTRYTYPE": entry.entry_type, "ID": entry.key}
        for entry in _scan_bibtex(text)
        if not entry.error and not entry.is_skipped
    ]


def _scan_bibtex(text: str) -> Iterator[_RawEntry]:
    """The entries in order, skipped blocks included (`is_skipped`). Linear in the text: an
    entry that cannot be read is given up at the next `@` that starts a line, and where every
    skipped block ends is found in one pass (`_block_ends`), so that unclosed `@comment{`
    blocks cost no more than closed ones."""
    pos, line, counted_to = 0, 1, 0
    ends: dict[int, int] | None = None
    while (start := _ENTRY_START.search(text, pos)) is not None:
        kind = start.group(1).lower()
        line += text.count("\n", counted_to, start.start())
        counted_to = start.start()
        cursor = _Cursor(text, start.end(), ")" if start.group(2) == "(" else "}")
        if kind in _SKIPPED_BLOCKS:
            if ends is None:
                ends = _block_ends(text)
            yield _RawEntry(line, kind, "", {}, is_skipped=True)
            # past the block, or (as BibTeX does) just past its `@word` when it never closes
            opener = start.end() - 1
            pos = ends.get(opener, opener) if cursor.close == "}" else opener
            continue
        entry = _read_entry(cursor, kind, line)
        yield entry
        pos = _resume_after(text, start.start()) if entry.error else cursor.pos


def _block_ends(text: str) -> dict[int, int]:
    """Where the opening brace of each skipped block is closed (the position after its `}`),
    for the blocks that close. A brace closes where the braces after it first balance: one
    pass counting the braces open, remembering only the depth at which each block opened."""
    starts = itertools.islice(_ENTRY_START.finditer(text), MAX_READ + 1)  # no more are read
    openers = {
        m.end() - 1 for m in starts if m.group(1).lower() in _SKIPPED_BLOCKS and m.group(2) == "{"
    }
    last = max(openers, default=-1)
    ends: dict[int, int] = {}
    waiting: list[tuple[int, int]] = []  # (position, depth outside it) of blocks still open
    depth = 0
    for run in _BRACE_RUNS.finditer(text):  # a run of `{` or of `}`: nesting costs one step
        if not waiting and run.start() > last:
            break
        if run.group()[0] == "{":
            if run.start() in openers:  # (an opener follows its @word: it starts a run)
                waiting.append((run.start(), depth))
            depth += len(run.group())
            continue
        closed = min(depth, len(run.group()))  # (a `}` with none open closes nothing)
        while waiting and waiting[-1][1] >= depth - closed:
            opener, outside = waiting.pop()
            ends[opener] = run.start() + depth - outside
        depth -= closed
    return ends


def _read_entry(cursor: _Cursor, kind: str, line: int) -> _RawEntry:
    key = ""
    try:
        key = _read_key(cursor)
        return _RawEntry(line, kind, key, _read_fields(cursor))
    except _Malformed as err:
        return _RawEntry(line, kind, key, {}, str(err))


def _resume_after(text: str, entry_start: int) -> int:
    found = _NEXT_LINE_ENTRY.search(text, entry_start + 1)
    return found.start() if found else len(text)


def _read_key(cursor: _Cursor) -> str:
    """The citation key before the first comma; "" when the entry starts with a field."""
    found = _KEY.match(cursor.text, cursor.pos)
    if found is None:  # cannot happen: every part of the pattern may match nothing
        raise _Malformed("its citation key cannot be read")
    rest = cursor.text[found.end() : found.end() + 1]
    if rest == "=":
        return ""  # no key: leave the cursor on the first field name
    if rest not in (",", cursor.close):
        raise _Malformed("its citation key is not followed by a comma")
    cursor.pos = found.end()
    return found.group(1)


def _read_fields(cursor: _Cursor) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        cursor.pos = _match_end(_SPACE_COMMAS, cursor)
        if cursor.text.startswith(cursor.close, cursor.pos):
            cursor.pos += 1
            return fields
        name = _FIELD_NAME.match(cursor.text, cursor.pos)
        if name is None:
            found = _shorten(cursor.text[cursor.pos : cursor.pos + 21], 20) or "the end of the text"
            raise _Malformed(f"expected a field name or a closing brace, found '{found}'")
        cursor.pos = name.end()
        fields.setdefault(name.group(1).lower(), collapse_space(_read_value(cursor)))


def _match_end(pattern: re.Pattern[str], cursor: _Cursor) -> int:
    found = pattern.match(cursor.text, cursor.pos)
    return found.end() if found else cursor.pos


def _read_value(cursor: _Cursor) -> str:
    """One field value: parts in braces, in quotes, numbers or macro names, joined by `#`."""
    parts = []
    while True:
        cursor.pos = _match_end(_SPACE, cursor)
        parts.append(_read_part(cursor))
        cursor.pos = _match_end(_SPACE, cursor)
        if not cursor.text.startswith("#", cursor.pos):
            return "".join(parts)
        cursor.pos += 1


def _read_part(cursor: _Cursor) -> str:
    first = cursor.text[cursor.pos : cursor.pos + 1]
    if first in ("{", '"'):
        return _read_delimited(cursor, first)
    bare = _BARE_VALUE.match(cursor.text, cursor.pos)
    if bare is None:
        raise _Malformed("a field has no value")
    cursor.pos = bare.end()
    return bare.group()


def _read_delimited(cursor: _Cursor, opener: str) -> str:
    """The inside of `{...}` (nested braces balanced) or `"..."` (braces balanced inside).
    A new entry at the start of a line means the value was never closed."""
    start, depth = cursor.pos + 1, 0
    marks = _BRACE_MARKS if opener == "{" else _QUOTE_MARKS
    for mark in marks.finditer(cursor.text, start if opener == '"' else cursor.pos):
        tok = mark.group()
        depth += 1 if tok == "{" else -1 if tok == "}" else 0
        is_end = (tok == "}" and depth == 0 and opener == "{") or (tok == '"' and depth == 0)
        if is_end:
            cursor.pos = mark.end()
            return cursor.text[start : mark.start()]
        if depth < 0 or tok.startswith("\n"):
            break
    raise _Malformed("a brace or quote is not closed")


# -- from an entry to a ref --------------------------------------------------------------------


def _collect_bibtex(text: str, out: _Collector) -> None:
    for entry in _scan_bibtex(text):
        if not out.may_read(entry.line):
            return
        if not entry.is_skipped:
            _collect_entry(entry, out)
    if not out.items and not out.problems:
        out.problem("The BibTeX text holds no entries.")


def _collect_entry(entry: _RawEntry, out: _Collector) -> None:
    label = (
        f"Entry '{_shorten(entry.key)}' (line {entry.line})"
        if entry.key
        else f"The @{_shorten(entry.entry_type, 20)} entry at line {entry.line}"
    )
    if entry.error:
        out.problem(f"{label} could not be read: {entry.error}; skipped.")
        return
    ref = _entry_ref(entry.fields)
    if ref:
        out.add(ref, entry.line)
    else:
        out.problem(f"{label} has no arXiv id or DOI; skipped.")


def _entry_ref(fields: Mapping[str, str]) -> str | None:
    """The ref of one parsed BibTeX entry: its arXiv id from `eprint`, `arxiv` or `arxivid`,
    else one mentioned in a url, journal or note ("arXiv:2410.17243"), else its DOI."""
    return (
        _eprint_ref(fields)
        or _mentioned_arxiv_id(fields)
        or _doi_ref(_plain(fields.get("doi", "")).replace(" ", ""))
        or (_doi_ref(_plain(fields["url"])) if "url" in fields else None)
    )


def _eprint_ref(fields: Mapping[str, str]) -> str | None:
    prefix = _plain(fields.get("archiveprefix") or fields.get("eprinttype") or "").lower()
    names = ("eprint", "arxiv", "arxivid") if prefix in ("", "arxiv") else ("arxiv", "arxivid")
    for name in names:
        parsed = parse_arxiv_id(_plain(fields.get(name, "")))
        if parsed:
            return parsed[0]
    return None


def _mentioned_arxiv_id(fields: Mapping[str, str]) -> str | None:
    for name in _TEXT_FIELDS:
        for found in _ARXIV_IN_TEXT.finditer(_plain(fields.get(name, ""))):
            parsed = parse_arxiv_id(found.group(1))
            if parsed:
                return parsed[0]
    return None


def _plain(value: str) -> str:
    """A field value without braces and with `\\_`-style escapes undone: what an id is."""
    return _LATEX_ESCAPED.sub(r"\1", value.replace("{", "").replace("}", "")).strip()
