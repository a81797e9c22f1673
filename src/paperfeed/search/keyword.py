"""The keyword index: BM25 over title and abstract in tantivy, kept beside the database.

Why tantivy and not SQLite FTS5: FTS5's bm25() scores every matching row, so a common word over
millions of abstracts takes hundreds of milliseconds; tantivy prunes with block-max WAND and
answers top-k in milliseconds. The index is derived data: `sync` catches up with the store's
change numbers (crash-safe and idempotent: a paper is deleted by its row number before it is
added again), and deleting the folder only costs a rebuild.

Title weighting: the title is indexed twice next to the abstract, so a title hit counts about
twice as much (the classic BM25F shortcut) while every query stays a flat disjunction of term
queries, the shape block-max WAND is fast on.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import tantivy

from paperfeed.errors import IndexBusy
from paperfeed.models import Paper
from paperfeed.search import index_disk_full, owner_only_dir
from paperfeed.search.query import Filters, ParsedQuery
from paperfeed.store import Store

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_TEXT, _AUTHORS, _CATEGORIES = "text", "authors", "categories"
_COMMIT_EVERY = 200_000


def _text_analyzer() -> tantivy.TextAnalyzer:
    f = tantivy.Filter
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(f.remove_long(40))
        .filter(f.lowercase())
        .filter(f.ascii_fold())
        .filter(f.stopword("english"))
        .filter(f.stemmer("english"))
        .build()
    )


def _name_analyzer() -> tantivy.TextAnalyzer:
    f = tantivy.Filter
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(f.lowercase())
        .filter(f.ascii_fold())
        .build()
    )


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_integer_field("seq", stored=True, indexed=True, fast=True)
    b.add_text_field(_TEXT, tokenizer_name="paper_en", index_option="position")
    b.add_text_field(_AUTHORS, tokenizer_name="names", index_option="position")
    b.add_text_field(_CATEGORIES, tokenizer_name="raw", index_option="basic")
    b.add_date_field("published", indexed=True, fast=True)
    return b.build()


def category_terms(categories: tuple[str, ...]) -> set[str]:
    """'cs.LG' is findable as 'cs.lg' and as its archive 'cs'."""
    terms = set()
    for c in categories:
        terms.add(c.lower())
        terms.add(c.lower().split(".")[0])
    return terms


STATE_FILE = "paperfeed-sync.json"


@dataclass(frozen=True, slots=True)
class SyncState:
    store_id: str = ""
    last_change: int = 0
    schema_version: int = SCHEMA_VERSION


def read_sync_state(path: str | Path) -> SyncState:
    """How far the keyword index in `path` has caught up, without opening it."""
    try:
        return SyncState(**json.loads((Path(path) / STATE_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return SyncState()


class KeywordIndex:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        owner_only_dir(self.path)
        self.text_analyzer = _text_analyzer()
        self.name_analyzer = _name_analyzer()
        self.index = self._open()

    def _open(self) -> tantivy.Index:
        try:
            index = tantivy.Index(_schema(), path=str(self.path), reuse=True)
        except ValueError as e:  # another schema or a damaged folder: it is derived data
            if full := index_disk_full(e, self.path):  # but a full disk is neither
                raise full from e
            log.warning("keyword index unreadable (%s); rebuilding path=%s", e, self.path)
            shutil.rmtree(self.path, ignore_errors=True)
            owner_only_dir(self.path)
            index = tantivy.Index(_schema(), path=str(self.path), reuse=True)
        index.register_tokenizer("paper_en", self.text_analyzer)
        index.register_tokenizer("names", self.name_analyzer)
        return index

    # -- sync state ---------------------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self.path / STATE_FILE

    def read_state(self) -> SyncState:
        return read_sync_state(self.path)

    def _write_state(self, state: SyncState) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state)))
        os.replace(tmp, self._state_file)

    def num_docs(self) -> int:
        self.index.reload()
        return self.index.searcher().num_docs

    # -- writing ------------------------------------------------------------------------

    def _document(self, seq: int, paper: Paper) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_integer("seq", seq)
        for value in (paper.title, paper.title, paper.abstract):
            doc.add_text(_TEXT, value)
        for name in paper.authors:
            doc.add_text(_AUTHORS, name)
        for term in sorted(category_terms(paper.categories)):
            doc.add_text(_CATEGORIES, term)
        if paper.published:
            doc.add_date("published", paper.published.astimezone(UTC).replace(tzinfo=None))
        return doc

    def _writer(self) -> tantivy.IndexWriter:
        try:
            return self.index.writer(heap_size=256_000_000, num_threads=2)
        except ValueError as e:
            raise IndexBusy(
                f"The keyword index at {self.path} is being updated by another process."
            ) from e

    def rebuild(self) -> None:
        """Throw the index away; the next sync builds it again from the store."""
        shutil.rmtree(self.path, ignore_errors=True)
        owner_only_dir(self.path)
        self.index = self._open()

    def sync(self, store: Store, on_progress: Callable[[int], None] | None = None) -> int:
        """Bring the index up to the store's last change. Returns the papers (re)indexed;
        DiskFull when there is no room for them (what was indexed before stays searchable)."""
        try:
            return self._sync(store, on_progress)
        except (ValueError, OSError) as e:
            if full := index_disk_full(e, self.path):
                raise full from e
            raise

    def _sync(self, store: Store, on_progress: Callable[[int], None] | None) -> int:
        if not (self.path / "meta.json").is_file():  # the folder was deleted under us
            log.warning("keyword index gone; building it again from the database path=%s",
                        self.path)  # fmt: skip
            self.rebuild()
        target, store_id = store.last_change(), store.store_id()
        state = self.read_state()
        stale = state.store_id not in ("", store_id) or state.schema_version != SCHEMA_VERSION
        if stale or state.last_change > target:
            log.info("keyword index belongs to another database; rebuilding path=%s", self.path)
            self.rebuild()
            state = SyncState()
        if state.last_change == target:
            if not state.store_id:
                self._write_state(SyncState(store_id, target))
            return 0
        return self._catch_up(store, SyncState(store_id, state.last_change), target, on_progress)

    def _catch_up(
        self,
        store: Store,
        state: SyncState,
        target: int,
        on_progress: Callable[[int], None] | None,
    ) -> int:
        is_empty = self.num_docs() == 0  # nothing to delete: skip per-paper deletes
        writer = self._writer()
        done, last = 0, state.last_change
        try:
            for change in store.iter_changes(state.last_change):
                if not is_empty:
                    writer.delete_documents_by_term("seq", change.seq)
                writer.add_document(self._document(change.seq, change.paper))
                done, last = done + 1, change.changed
                if on_progress:
                    on_progress(1)
                if done % _COMMIT_EVERY == 0:
                    writer.commit()
                    self._write_state(SyncState(state.store_id, last))
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            with suppress(ValueError):  # a writer killed by a failed write cannot roll back
                writer.rollback()
            del writer  # now, not when the traceback is collected: it holds the lock file
            raise
        self._write_state(SyncState(state.store_id, max(last, target if done else last)))
        self.index.reload()
        log.info("keyword index synced papers=%d last_change=%d", done, last)
        return done

    # -- reading ------------------------------------------------------------------------

    def _clause(self, field: str, text: str) -> tantivy.Query | None:
        """One word or phrase as the field's tokenizer sees it; None if nothing is left
        (stop words, symbols)."""
        analyzer = self.name_analyzer if field == _AUTHORS else self.text_analyzer
        tokens = analyzer.pre_tokenize(text).tokens
        schema = self.index.schema
        if not tokens:
            return None
        if len(tokens) == 1:
            return tantivy.Query.term_query(schema, field, tokens[0].text)
        first = tokens[0].position
        words: list[str | tuple[int, str]] = [(t.position - first, t.text) for t in tokens]
        return tantivy.Query.phrase_query(schema, field, words)

    def _filter_clauses(self, filters: Filters) -> list[tantivy.Query]:
        schema, q = self.index.schema, tantivy.Query
        out = []
        if filters.categories:
            terms = [q.term_query(schema, _CATEGORIES, c.lower()) for c in filters.categories]
            out.append(q.boolean_query([(tantivy.Occur.Should, t) for t in terms]))
        if filters.author:
            for token in self.name_analyzer.analyze(filters.author):
                out.append(q.term_query(schema, _AUTHORS, token))
        if filters.since or filters.until:
            out.append(
                q.range_query(
                    schema,
                    "published",
                    tantivy.FieldType.Date,
                    _day_start(filters.since) if filters.since else None,
                    _day_start(filters.until, plus_days=1) if filters.until else None,
                    include_upper=not filters.until,
                )
            )
        return [q.const_score_query(f, 0.0) for f in out]

    def build_query(self, parsed: ParsedQuery, filters: Filters) -> tantivy.Query | None:
        """None when the query had words but none is searchable (all stop words/symbols)."""
        occur = tantivy.Occur
        should = [c for w in parsed.words if (c := self._clause(_TEXT, w))]
        must = [c for p in parsed.phrases if (c := self._clause(_TEXT, p))]
        must_not = [c for x in parsed.excluded if (c := self._clause(_TEXT, x))]
        if (parsed.words or parsed.phrases) and not (should or must):
            return None
        clauses = [(occur.Must, f) for f in self._filter_clauses(filters)]
        clauses += [(occur.Must, m) for m in must] + [(occur.MustNot, x) for x in must_not]
        if should and clauses and not must:
            # Required filters would make the words optional: group them into one must clause.
            clauses.append((occur.Must, tantivy.Query.boolean_query(
                [(occur.Should, s) for s in should])))  # fmt: skip
        else:
            clauses += [(occur.Should, s) for s in should]
        if not should and not must:
            clauses.append((occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses)

    def search(
        self, parsed: ParsedQuery, filters: Filters, limit: int, offset: int = 0
    ) -> list[tuple[int, float]]:
        """(seq, score) best first. With no words at all, the newest papers come first."""
        return self._search(parsed, filters, limit, offset, count=False)[0]

    def search_counted(
        self, parsed: ParsedQuery, filters: Filters, limit: int, offset: int = 0
    ) -> tuple[list[tuple[int, float]], int]:
        """`search`, and how many papers match in all."""
        return self._search(parsed, filters, limit, offset, count=True)

    def _search(
        self, parsed: ParsedQuery, filters: Filters, limit: int, offset: int, *, count: bool
    ) -> tuple[list[tuple[int, float]], int]:
        query = self.build_query(parsed, filters)
        if query is None:
            return [], 0
        searcher = self.index.searcher()
        scored = bool(parsed.words or parsed.phrases)
        if scored:
            result = searcher.search(query, limit=limit, offset=offset, count=count)
        else:
            result = searcher.search(
                query, limit=limit, offset=offset, count=count, order_by_field="published"
            )
        hits = []
        for key, address in result.hits:
            seq = searcher.doc(address)["seq"][0]
            hits.append((int(seq), float(key) if scored else 0.0))
        # (the stub lacks SearchResult.count; tantivy sets it when asked with count=True)
        total: int = getattr(result, "count", None) or 0
        return hits, total if count else len(hits)


def _day_start(d: date, plus_days: int = 0) -> datetime:
    return datetime.combine(d + timedelta(days=plus_days), time.min)
