"""The `paperfeed` command: it reads settings, has paperfeed.services build the store, the
search engine and the rest from them, calls the library and turns results and errors into text
and exit codes.

Exit codes: 0 done; 1 failed (message on stderr); 2 bad usage; 3 done, but some input lines
were skipped (each one named on stderr); 4 (harvest only) every source ran, nothing new came;
5 (serve and demo) the port is in use.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from paperfeed import __version__, services
from paperfeed.config import SETTINGS_ENV, Settings, load_settings, parse_proxies, redact
from paperfeed.digest.outbox import read_outbox
from paperfeed.digest.sender import DigestSender, PassReport
from paperfeed.errors import DiskFull, InputError, NotFound, PaperfeedError, QueryError
from paperfeed.ingest.files import ImportReport, file_size, import_file
from paperfeed.ingest.harvest import HarvestReport, fetch_arxiv_ids, harvest_source
from paperfeed.ingest.http import Retry
from paperfeed.ingest.sources import KINDS, OAI_FORMATS, SourceOptions, describe, new_source
from paperfeed.logs import FORMATS, setup_logging
from paperfeed.models import FIRST_DAY, LAST_DAY, paper_json
from paperfeed.pipeline import EMBED_LEASE, embed_leased
from paperfeed.rank import trending
from paperfeed.search.embed import export_embeddings, import_embeddings
from paperfeed.search.engine import Hit, SearchEngine
from paperfeed.search.query import (
    MODES,
    Filters,
    SearchRequest,
    empty_message,
    filter_words,
    total_text,
)
from paperfeed.search.vectors import VectorIndex, vector_index_dir
from paperfeed.status import gather, source_json
from paperfeed.store import Store, open_store, privacy_warning, sqlite_path

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SKIPPED, EXIT_NOTHING_NEW = 0, 1, 2, 3, 4
EMBED_BATCH = 64
EXIT_PORT_IN_USE = 5
MAX_LINE_ERRORS_SHOWN = 20
DEMO_QUERIES = (
    "dropout",
    "removing the influence of specific training examples from a trained model",
)
DEMO_COMMANDS = (  # printed by the demo; papers of its bundled data
    "show 2410.17243",
    "related 2410.17243 --limit 5",
    "trending --window week",
    'search "speech recognition" --category cs.CL',
)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


@contextmanager
def _progress(total: int | None, unit: str, desc: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; silent otherwise (cron, pipes, tests)."""
    bar = tqdm(
        total=total,
        unit=unit,
        unit_scale=True,
        desc=desc,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
    )

    def update(n: int) -> None:
        bar.update(n)

    try:
        yield update
    finally:
        bar.close()


def _open_engine(settings: Settings, store: Store, *, semantic: bool = False) -> SearchEngine:
    embedder = services.load_model(settings) if semantic else None
    return services.search_engine(settings, store, embedder)


def _sync_with_progress(engine: SearchEngine, store: Store) -> None:
    behind = store.last_change() - engine.keyword.read_state().last_change
    with _progress(max(behind, 0), "papers", "indexing") as update:
        engine.sync(on_progress=update)


# -- ingest ------------------------------------------------------------------------------


def _report_import(report: ImportReport) -> None:
    r = report.result
    line = (f"{report.path}: {report.papers} papers read "
            f"({r.added} new, {r.updated} updated, {r.unchanged} unchanged)")  # fmt: skip
    if report.announcements or report.signals:
        line += (f", {report.announcements} Hugging Face features and {report.signals} "
                 "upvote, comment or star counts stored")  # fmt: skip
    if report.errors:
        line += f", {len(report.errors)} lines skipped"
    _err(line)
    for error in report.errors[:MAX_LINE_ERRORS_SHOWN]:
        _err(f"  {report.path}: {error}")
    if len(report.errors) > MAX_LINE_ERRORS_SHOWN:
        _err(f"  ... and {len(report.errors) - MAX_LINE_ERRORS_SHOWN} more bad lines")
    if report.fault:
        _err(f"error: {report.path}: {report.fault}; the {report.papers} papers before it are "
             "imported: import a whole copy of the file to get the rest (re-importing is "
             "safe).")  # fmt: skip


def ingest_files(settings: Settings, paths: Sequence[str]) -> int:
    store = services.open_db(settings)
    status = EXIT_OK
    try:
        for path in paths:
            try:
                with _progress(file_size(path), "B", Path(path).name) as update:
                    report = import_file(store, path, on_bytes=update, now=datetime.now(UTC),
                                         max_line_bytes=settings.max_line_bytes)  # fmt: skip
            except DiskFull as e:  # the next file and the index could only fail the same way
                _err(f"error: {e}")
                status = EXIT_ERROR
                break
            except PaperfeedError as e:
                _err(f"error: {e}")
                status = EXIT_ERROR
                continue
            _report_import(report)
            if report.fault:
                status = EXIT_ERROR
            elif report.errors and status == EXIT_OK:
                status = EXIT_SKIPPED
        else:  # (no full disk): the index catches up now, not at the first search
            _sync_with_progress(_open_engine(settings, store), store)
        _err(f"{store.count_papers()} papers in {redact(settings.db)}")
    finally:
        store.close()
    return status


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    return ingest_files(settings, args.files)


# -- search and show ---------------------------------------------------------------------


def _date_arg(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2024-01-31") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day from {FIRST_DAY} to {LAST_DAY}")
    return day


def _print_hits(hits: list[Hit]) -> None:
    for rank, hit in enumerate(hits, start=1):
        p = hit.paper
        when = p.published.date().isoformat() if p.published else "undated"
        authors = ", ".join(p.authors[:3]) + (" et al." if len(p.authors) > 3 else "")
        print(f"{rank:>3}. {p.title}  [{p.id}]")
        meta = " · ".join(x for x in (authors, when, " ".join(p.categories)) if x)
        print(f"     {meta} · score {hit.score:.2f}")


def run_search(settings: Settings, request: SearchRequest, as_json: bool) -> int:
    store = services.open_db(settings, readonly=True)
    try:
        engine = _open_engine(settings, store, semantic=request.mode != "keyword")
        results = engine.results(request)
        if request.mode == "hybrid" and engine.vectors and engine.vectors.size == 0:
            _err("note: no paper is embedded yet, so these are keyword results; "
                 "run `paperfeed embed` for search by meaning.")  # fmt: skip
        unfiltered = None
        if not results.hits and not request.filters.is_empty and request.text.strip():
            alone = engine.results(dataclasses.replace(request, filters=Filters(), offset=0))
            unfiltered = (alone.total, alone.exact)
    finally:
        store.close()
    hits = results.hits
    if as_json:
        _print_json([{**paper_json(h.paper), "score": round(h.score, 4)} for h in hits])
    elif hits:
        _print_hits(hits)
        shown = f"{request.offset + 1}-{request.offset + len(hits)}"
        _err(f"{shown} of {total_text(results.total, results.exact)}")
    else:
        words = [text for _, text in filter_words(request.filters)]
        _err(empty_message(request.text, words, unfiltered))
    return EXIT_OK


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    request = SearchRequest(
        text=args.query,
        filters=Filters(
            categories=tuple(args.category or ()),
            author=args.author,
            since=args.since,
            until=args.until,
        ),
        limit=args.limit,
        mode=args.mode,
    )
    return run_search(settings, request, args.json)


def _print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def cmd_related(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings, readonly=True)
    try:
        hits = _open_engine(settings, store, semantic=True).related(args.id, args.limit)
    finally:
        store.close()
    if args.json:
        _print_json([{**paper_json(h.paper), "score": round(h.score, 4)} for h in hits])
    else:
        _print_hits(hits)
    return EXIT_OK


def embed_papers(settings: Settings, batch_size: int, device: str | None = None, *,
                 store: Store | None = None, max_papers: int | None = None) -> int:  # fmt: skip
    """Embed what the model has not seen (newest first; at most `max_papers`), under the
    embedder lease that the server's embedder takes too, and catch the indexes up."""
    own = store is None
    store = store or services.open_db(settings)
    try:
        embedder = services.load_model(settings, device)
        todo = store.count_embedding_todo(embedder.name)
        todo = todo if max_papers is None else min(todo, max_papers)
        with _progress(todo, "papers", "embedding") as update:
            done = embed_leased(store, embedder, services.embed_lease(settings),
                                batch_size=batch_size, max_papers=max_papers,
                                on_progress=update)  # fmt: skip
        if done.busy:
            owner = store.lease_owner(EMBED_LEASE, time.time()) or "another process"
            if max_papers is not None:  # after a harvest: the server's embedder takes them
                _err(f"{owner} is embedding new papers now; it embeds these too")
                return EXIT_OK
            raise PaperfeedError(
                f"{owner} is embedding these papers now (a `paperfeed serve`"
                "?): it embeds them all, or stop it and run this again."
            )
        services.search_engine(settings, store, embedder).sync()
        left = f"; {store.count_embedding_todo(embedder.name)} left" if done.more else ""
        _err(
            f"{done.embedded} papers embedded ({done.unchanged} checked, text unchanged){left}; "
            f"{store.count_embeddings(embedder.name)} of {store.count_papers()} papers have "
            f"{embedder.name} vectors"
        )
    finally:
        if own:
            store.close()
    return EXIT_OK


def cmd_embed(settings: Settings, args: argparse.Namespace) -> int:
    return embed_papers(settings, args.batch_size, args.device)


def cmd_embeddings_export(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings, readonly=True)
    try:
        models = [m for m, _ in store.list_embedding_models()]
        model = args.model or (models[0] if len(models) == 1 else None)
        if model is None or model not in models:
            raise QueryError(
                "Name the model to export with --model: "
                + (", ".join(models) if models else "no paper is embedded yet")
                + "."
            )
        count = export_embeddings(store, model, args.file)
    finally:
        store.close()
    _err(f"{count} {model} vectors written to {args.file}")
    return EXIT_OK


def import_vectors(settings: Settings, path: str | Path) -> None:
    store = services.open_db(settings)
    try:
        model, count = import_embeddings(store, path)
        left = store.count_papers() - store.count_embeddings(model)
    finally:
        store.close()
    _err(f"{count} {model} vectors imported; {left} papers still need `paperfeed embed`")


def cmd_embeddings_import(settings: Settings, args: argparse.Namespace) -> int:
    import_vectors(settings, args.file)
    return EXIT_OK


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings, readonly=True)
    try:
        paper = store.get_paper(args.id)
    finally:
        store.close()
    if paper is None:
        raise NotFound(f"No paper with id {args.id!r} in {redact(settings.db)}.")
    if args.json:
        print(orjson.dumps(paper_json(paper), option=orjson.OPT_INDENT_2).decode())
        return EXIT_OK
    print(paper.title)
    print(", ".join(paper.authors) or "(no authors listed)")
    facts = [f"id {paper.id}"]
    if paper.version:
        facts.append(f"v{paper.version}")
    if paper.published:
        facts.append(f"first published {paper.published.date().isoformat()}")
    if paper.updated:
        facts.append(f"updated {paper.updated.date().isoformat()}")
    print(" · ".join(facts + list(paper.categories)))
    for link in (paper.url, paper.pdf_url, paper.code_url):
        if link:
            print(link)
    print()
    print(paper.abstract)
    return EXIT_OK


def cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings, readonly=True)
    try:
        engine = _open_engine(settings, store)
        engine.keyword.rebuild()
        _sync_with_progress(engine, store)
        _err(f"keyword index rebuilt: {engine.keyword.num_docs()} papers")
        for model, dim in store.list_embedding_models():  # stored vectors: no model needed
            vectors = VectorIndex(vector_index_dir(settings.index_dir, model), model, dim)
            vectors.rebuild(store)
            _err(f"vector index rebuilt: {vectors.size} papers ({model})")
    finally:
        store.close()
    return EXIT_OK


# -- sources and harvesting ---------------------------------------------------------------


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration_arg(text: str) -> int:
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 6h or 1d") from None
    return int(seconds)


def _when(d: datetime | None) -> str:
    return d.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if d else "never"


def _every(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cmd_sources_add(settings: Settings, args: argparse.Namespace) -> int:
    options = SourceOptions(
        set=args.set,
        query=args.query,
        categories=tuple(args.category or ()),
        metadata_format=args.format,
        since=args.since,
        interval_s=args.every,
        max_results=args.max_results,
        name=args.name,
    )
    source = new_source(args.kind, options, datetime.now(UTC))
    store = services.open_db(settings)
    try:
        store.add_source(source)
    finally:
        store.close()
    _err(f"added source {source.name}: {describe(source)}, every {_every(source.interval_s)}; "
         f"run it now with `paperfeed harvest {source.name}`")  # fmt: skip
    return EXIT_OK


def cmd_sources_list(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings)
    try:
        sources = store.list_sources()
    finally:
        store.close()
    if args.json:
        _print_json([source_json(s) for s in sources])
        return EXIT_OK
    if not sources:
        _err("No sources yet: add one with `paperfeed sources add arxiv --set cs.LG`.")
        return EXIT_OK
    rows = [("NAME", "KIND", "EVERY", "LAST RUN", "NEXT RUN", "ADDED (LAST/ALL)")]
    for s in sources:
        next_run = _when(s.next_run_at) if s.enabled else "paused"
        rows.append((s.name, s.kind, _every(s.interval_s), _when(s.last_run_at), next_run,
                     f"{s.last_added}/{s.papers_added}"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    by_name = {s.name: s for s in sources}
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        source = by_name.get(row[0])
        if source is None:
            continue
        print(f"    {describe(source)}")
        if source.last_error:
            times = "once" if source.failures == 1 else f"{source.failures} times in a row"
            print(f"    last error (failed {times}; next try {_when(source.next_run_at)}): "
                  f"{source.last_error}")  # fmt: skip
    return EXIT_OK


def cmd_sources_remove(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings)
    try:
        if not store.remove_source(args.name):
            raise NotFound(f"There is no source named {args.name!r}; see `paperfeed sources list`.")
    finally:
        store.close()
    _err(f"removed source {args.name} (the papers it brought stay)")
    return EXIT_OK


def _report_harvest(report: HarvestReport) -> None:
    """One account of a run: what it stored, the HTTP requests it took (retries among them)
    and how long, then its error, if any, and when it is tried next."""
    if report.busy:
        _err(f"{report.source}: skipped, another process is harvesting it")
        return
    _err(f"{report.source}: {report.added} new, {report.updated} updated, "
         f"{report.unchanged} unchanged; {_requests_text(report)} in {report.took_s:.0f} s"
         + (f", {len(report.skipped)} records skipped" if report.skipped else ""))  # fmt: skip
    for line in report.skipped[:MAX_LINE_ERRORS_SHOWN]:
        _err(f"  {report.source}: skipped {line}")
    for note in report.notes:
        _err(f"  {report.source}: {note}")
    if report.error:
        _err(f"  {report.source}: error: {report.error} (next try {_when(report.next_run_at)})")


def _requests_text(report: HarvestReport) -> str:
    """'3 requests', or '5 requests (1 page, tried 5 times)' when some were retries."""
    sent, pages = report.sent, report.requests
    text = f"{sent} request{'' if sent == 1 else 's'}"
    if sent > pages:
        text += f" ({pages} page{'' if pages == 1 else 's'}, {sent - pages} of them retries)"
    return text


class _HarvestProgress:
    """Progress of `paperfeed harvest` on a terminal (stderr only when it is one): which source
    runs, and each failed request before its retry, so a dead network is not silent for a
    minute and more."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.source = ""

    def start(self, name: str) -> None:
        self.source = name
        print(f"{name}: harvesting...", file=self.stream, flush=True)

    def retry(self, retry: Retry) -> None:
        print(f"  {self.source}: request {retry.attempt} of {retry.max_attempts} failed "
              f"({retry.error}); trying again in {retry.wait_s:.0f} s",
              file=self.stream, flush=True)  # fmt: skip


def cmd_harvest(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings)
    progress = _HarvestProgress(sys.stderr) if sys.stderr.isatty() else None
    fetchers = services.fetchers(settings, on_retry=progress.retry if progress else None)
    try:
        if args.names:
            names = list(args.names)
        elif args.due:
            names = store.due_sources(datetime.now(UTC))
        else:
            names = [s.name for s in store.list_sources() if s.enabled]
        if not names and not args.due:
            raise NotFound(
                "No sources yet: add one with `paperfeed sources add arxiv --set cs.LG`."
            )
        reports = []
        for name in names:
            if progress is not None:
                progress.start(name)
            report = harvest_source(store, fetchers, name, owner=services.owner(settings),
                                    lease_s=settings.lease_s)  # fmt: skip
            _report_harvest(report)
            reports.append(report)
        changed = sum(r.added + r.updated for r in reports)
        if changed:
            _sync_with_progress(_open_engine(settings, store), store)
        if changed and not args.no_embed:  # what came, for search by meaning and digests
            embed_papers(settings, EMBED_BATCH, store=store, max_papers=changed)
    finally:
        fetchers.close()
        store.close()
    if any(r.error and not r.busy for r in reports):
        return EXIT_ERROR
    return EXIT_OK if any(r.added for r in reports) else EXIT_NOTHING_NEW


def cmd_fetch(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings)
    fetchers = services.fetchers(settings)
    try:
        report = fetch_arxiv_ids(store, fetchers, args.ids)
        _report_harvest(report)
        _sync_with_progress(_open_engine(settings, store), store)
    finally:
        fetchers.close()
        store.close()
    found = report.added + report.updated + report.unchanged
    if found < len(set(args.ids)):
        _err(f"{len(set(args.ids)) - found} of the ids were not found on arXiv")
        return EXIT_SKIPPED
    return EXIT_OK


# -- trending ------------------------------------------------------------------------------


def print_trending(
    settings: Settings, window: str, limit: int, *, as_json: bool = False, recompute: bool = False
) -> None:
    store = services.open_db(settings)
    try:
        today = datetime.now(UTC).date()
        if recompute:
            trending.recompute(store, time.time(), today)
        else:
            trending.refresh_if_stale(store, today, settings.trending_every_s)
        state = store.get_trending_state(window)
        ranked = trending.list_page(store, window, limit=limit, offset=0)
    finally:
        store.close()
    rows = [trending.ranked_json(r) for r in ranked]
    if as_json:
        _print_json(rows)
        return
    if state is not None:
        span = f"{state.since} to {state.until}" if state.until else "all papers (undated)"
        computed = datetime.fromtimestamp(state.computed_at, UTC).isoformat(timespec="seconds")
        print(f"trending this {window}: {span}, computed {computed}")
    for rank, row in enumerate(rows, 1):
        named = row["trending"]["parts"].items()
        parts = " + ".join(f"{n.replace('_', ' ')} {v:.2f}" for n, v in named if v)
        print(f"{rank:3d}. {row['trending']['score']:7.2f}  {row['id']}  {row['title']}")
        print(f"     = {parts or 'nothing yet'}")


def cmd_trending(settings: Settings, args: argparse.Namespace) -> int:
    print_trending(settings, args.window, args.limit, as_json=args.json, recompute=args.recompute)
    return EXIT_OK


# -- digests -------------------------------------------------------------------------------


def _digest_sender(settings: Settings, store: Store) -> DigestSender:
    return services.digest_sender(settings, store, services.mailer(settings),
                                  load_embedder=lambda: services.load_model(settings))  # fmt: skip


def _report_pass(report: PassReport) -> int:
    if report.busy:
        _err("another digest sender is running (its lease is live); nothing done")
        return EXIT_OK
    waiting = f", waiting for embeddings {report.waiting}" if report.waiting else ""
    print(f"digests planned {report.planned}, nothing new {report.empty}{waiting}; mails sent "
          f"{report.sent}, to retry {report.retried}, failed {report.failed}, expired "
          f"{report.expired}, cancelled {report.cancelled}; addresses suppressed "
          f"{report.suppressed}")  # fmt: skip
    for error in report.errors:
        _err(f"error: {error}")
    return EXIT_ERROR if report.errors else EXIT_OK


def cmd_digest_run(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings)
    try:
        return _report_pass(_digest_sender(settings, store).run_pass())
    finally:
        store.close()


def cmd_digest_subscribe(settings: Settings, args: argparse.Namespace) -> int:
    from paperfeed.digest import subscriptions

    store = services.open_db(settings)
    try:
        sender = _digest_sender(settings, store)
        done = subscriptions.subscribe(store, sender.secret, args.email, source="cli",
                                       client=None, now=time.time(), topic=args.topic)  # fmt: skip
        if not done.planned_confirmation:
            found = done.subscriber_id
            sub = store.get_subscriber(found) if found is not None else None
            state = sub.state if sub else "unknown"
            print(f"{args.email} is {state}; no new confirmation mail (one per request round)")
            return EXIT_OK
        print(f"{args.email}: pending until the confirmation link mailed to it is used")
        return _report_pass(sender.run_pass(plan=False))
    finally:
        store.close()


def cmd_digest_preview(settings: Settings, args: argparse.Namespace) -> int:
    from paperfeed.users.addresses import normalize_email

    store = services.open_db(settings)
    try:
        sub = store.get_subscriber_by_email(normalize_email(args.email))
        if sub is None:
            raise NotFound(f"{args.email} is not on the digest list; add it with "
                           "`paperfeed digest subscribe EMAIL`.")  # fmt: skip
        message = _digest_sender(settings, store).preview(sub)
    finally:
        store.close()
    if message is None:
        print(f"Nothing new for {sub.email} now: no digest would be sent.")
        return EXIT_OK
    if sub.state != "confirmed":
        _err(f"note: {sub.email} is {sub.state}; it gets no digest until it is confirmed")
    print(f"To: {message.to}\nSubject: {message.subject}\n")
    print(message.html if args.html else message.text)
    return EXIT_OK


def cmd_digest_status(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings, readonly=True)
    try:
        status: dict[str, Any] = {"subscribers": store.count_subscribers(),
                                  "channels": store.count_channels(),
                                  "deliveries": store.count_deliveries()}  # fmt: skip
    finally:
        store.close()
    if args.json:
        _print_json(status)
        return EXIT_OK
    for what in ("subscribers", "deliveries"):
        counts = status[what]
        shown = ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none"
        print(f"{what}: {shown}")
    channels = [f"{kind} {state} {n}" for kind, states in sorted(status["channels"].items())
                for state, n in sorted(states.items())]  # fmt: skip
    print(f"channels: {', '.join(channels) or 'none'}")
    return EXIT_OK


# -- notification channels -------------------------------------------------------------------


def _channel_command(settings: Settings, work: Callable[[Store], int]) -> int:
    """Run `work` on the store; bad input is one sentence and exit 2."""
    store = services.open_db(settings)
    try:
        return work(store)
    except (InputError, NotFound) as e:
        _err(f"error: {e}")
        return EXIT_USAGE
    finally:
        store.close()


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    folder = settings.mail.outbox
    if settings.mail.host:
        _err(f"note: mail goes out through {settings.mail.host}; this is the local outbox "
             f"{folder}, used only without an SMTP host.")  # fmt: skip
    mails = read_outbox(folder, args.limit)
    if not mails:
        print(f"No mail in the outbox {folder} yet.")
        return EXIT_NOTHING_NEW
    print(("\n" + "-" * 72 + "\n").join(mail.render() for mail in mails))
    return EXIT_OK


def cmd_channels_add(settings: Settings, args: argparse.Namespace) -> int:
    from paperfeed.digest import channels, subscriptions
    from paperfeed.store import Preferences
    from paperfeed.users.addresses import normalize_email

    def work(store: Store) -> int:
        user = store.get_user_by_email(normalize_email(args.user))
        if user is None:
            raise NotFound(f"No reader signs in as {args.user}; they sign in once first.")
        form = {"frequency": args.frequency, "topics": "\n".join(args.search or []),
                "include_trending": "on"}  # fmt: skip
        prefs = subscriptions.parse_preferences(form, Preferences())
        sub = channels.add_channel(store, services.outbound(settings), user.id, args.kind,
                                   args.url, prefs, time.time())  # fmt: skip
        print(f"channel {sub.id}: {channels.describe(sub)} for {user.email}, "
              f"{prefs.frequency}")  # fmt: skip
        if sub.secret:
            print(f"signing secret (HMAC-SHA256, header {channels.SIGNATURE_HEADER}): "
                  f"{sub.secret}")  # fmt: skip
        return EXIT_OK

    return _channel_command(settings, work)


def cmd_channels_list(settings: Settings, args: argparse.Namespace) -> int:
    from paperfeed.digest import channels
    from paperfeed.users.addresses import normalize_email

    def work(store: Store) -> int:
        user_id = None
        if args.user:
            user = store.get_user_by_email(normalize_email(args.user))
            if user is None:
                raise NotFound(f"No reader signs in as {args.user}.")
            user_id = user.id
        found = store.list_channels(user_id)
        if not found:
            print("no channels")
        for sub in found:
            owner = store.get_user(sub.user_id) if sub.user_id is not None else None
            state = "disabled" if sub.state == "suppressed" else "active"
            print(f"{sub.id}\t{channels.describe(sub)}\t{owner.email if owner else '?'}\t"
                  f"{state}\tfailures {sub.failures}" +
                  (f"\t{sub.disabled_note}" if sub.disabled_note else ""))  # fmt: skip
        return EXIT_OK

    return _channel_command(settings, work)


def cmd_channels_remove(settings: Settings, args: argparse.Namespace) -> int:
    from paperfeed.digest import channels

    def work(store: Store) -> int:
        sub = channels.owned_channel(store, None, args.id)
        store.delete_channel(sub.id)
        print(f"channel {sub.id} removed ({channels.describe(sub)})")
        return EXIT_OK

    return _channel_command(settings, work)


def cmd_channels_enable(settings: Settings, args: argparse.Namespace) -> int:
    from paperfeed.digest import channels

    def work(store: Store) -> int:
        sub = channels.owned_channel(store, None, args.id)
        channels.enable(store, sub)
        print(f"channel {sub.id} enabled ({channels.describe(sub)})")
        return EXIT_OK

    return _channel_command(settings, work)


def cmd_channels_test(settings: Settings, args: argparse.Namespace) -> int:
    from paperfeed.digest import channels

    def work(store: Store) -> int:
        sub = channels.owned_channel(store, None, args.id)
        try:
            channels.send_test(channels.webhook_channels(services.outbound(settings)), sub,
                               settings.public_url, time.time())  # fmt: skip
        except channels.DeliveryError as e:
            _err(f"error: the test message did not go: {e}")
            return EXIT_ERROR
        print(f"test message sent to channel {sub.id} ({channels.describe(sub)})")
        return EXIT_OK

    return _channel_command(settings, work)


# -- status ------------------------------------------------------------------------------


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings, readonly=True)
    try:
        status = gather(settings, store)
    finally:
        store.close()
    if args.json:
        _print_json(status)
        return EXIT_OK
    sizes = status["sizes"]
    size = "" if sizes["database_bytes"] is None else f"{_mb(sizes['database_bytes'])} "
    print(f"database  {status['database']}: {status['papers']} papers, "
          f"{size}(indexes {_mb(sizes['index_bytes'])})")  # fmt: skip
    print("sources   " + ("none (add one: paperfeed sources add hf-daily)"
                          if not status["sources"] else ""))  # fmt: skip
    for s in status["sources"]:
        last = _when(_iso(s["last_run_at"]))
        state = f"error ({s['failures']} in a row): {s['last_error']}" if s["last_error"] else (
            f"+{s['last_added']} new" if s["last_run_at"] else "not run yet")  # fmt: skip
        next_run = _when(_iso(s["next_run_at"])) if s["enabled"] else "paused"
        now = f"; harvesting now: {s['harvesting_now']}" if s["harvesting_now"] else ""
        print(f"  {s['name']}  last run {last}, {state}; next {next_run}{now}")
    for model, e in status["embeddings"].items():
        now = f"; embedding now: {status['embedding_now']}" if status["embedding_now"] else ""
        print(f"embedded  {model}: {e['embedded']} papers, backlog {e['backlog']}, "
              f"index lag {e['index_lag']}{now}")  # fmt: skip
    print(f"keyword   index lag {status['keyword_index_lag']} papers")
    for what in ("subscribers", "deliveries"):
        shown = ", ".join(f"{k} {n}" for k, n in sorted(status[what].items())) or "none"
        if what == "deliveries" and status["sending_now"]:
            shown += f"; sending now: {status['sending_now']}"
        print(f"{what:<9} {shown}")
    return EXIT_OK


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# -- backup ------------------------------------------------------------------------------


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    store = services.open_db(settings, readonly=True)
    try:
        started = time.perf_counter()
        size = store.backup(args.file, overwrite=args.force)
        took_s = time.perf_counter() - started
    finally:
        store.close()
    _err(f"backed up {redact(settings.db)} to {args.file}: {size / 1e6:.1f} MB in "
         f"{took_s:.1f} s")  # fmt: skip
    return EXIT_OK


def cmd_copy_store(settings: Settings, args: argparse.Namespace) -> int:
    from paperfeed.store.copy import copy_store, rows_to_copy

    if args.source == args.target:
        raise InputError("FROM and TO are the same database; name another one to copy into.")
    source = open_store(args.source, readonly=True)
    try:
        target = open_store(args.target)
        try:
            started = time.perf_counter()
            with _progress(rows_to_copy(source), "rows", "copying") as update:
                report = copy_store(source, target, batch=args.batch, on_rows=update)
            took_s = time.perf_counter() - started
        finally:
            target.close()
    finally:
        source.close()
    rows = sum(report.rows.values())
    how = "resumed: " if report.resumed else ""
    _err(f"copied {redact(args.source)} to {redact(args.target)}: {how}{rows:,} rows "
         f"({report.rows['papers']:,} papers) in {took_s:.1f} s; checked row counts of every "
         f"table and {report.sampled} papers with their vectors")  # fmt: skip
    return EXIT_OK


# -- serve -------------------------------------------------------------------------------


def _port_taken(host: str, port: int) -> bool:
    """Whether another process listens on host:port, found by binding as uvicorn will (with
    SO_REUSEADDR, so a port left in TIME_WAIT is not taken); other bind errors are a setting
    the user must change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise InputError(f"Cannot listen on {host} port {port}: {e.strerror}; choose "
                             "another --host or --port.") from None  # fmt: skip
    return False


def _says_port_taken(args: argparse.Namespace) -> bool:
    if not _port_taken(args.host, args.port):
        return False
    _err(f"error: port {args.port} on {args.host} is already in use; stop what uses it "
         f"or choose another with --port (make demo: make demo PORT={args.port + 1}).")  # fmt: skip
    return True


def _serve_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings the server runs with: serve's flags over the environment's (`demo` has no
    --trusted-proxies, --access-log or --metrics)."""
    flag = getattr(args, "trusted_proxies", None)
    proxies = settings.trusted_proxies if flag is None else parse_proxies(flag, "--trusted-proxies")
    return dataclasses.replace(
        settings,
        host=args.host,
        port=args.port,
        scheduler=not args.no_scheduler,
        access_log=settings.access_log or getattr(args, "access_log", False),
        metrics=settings.metrics or getattr(args, "metrics", False),
        trusted_proxies=proxies,
    )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    settings = _serve_settings(settings, args)
    store = services.open_db(settings)  # create and migrate once, before the workers start,
    try:  # and open the keyword index: what fails here is one sentence, not a worker's trace
        _open_engine(settings, store)
    finally:
        store.close()
    if _says_port_taken(args):
        return EXIT_PORT_IN_USE
    if not settings.base_url and settings.host in ("0.0.0.0", "::"):  # nobody's address
        _err(f"warning: set PAPERFEED_BASE_URL to the address readers use (e.g. "
             f"http://{socket.gethostname()}:{settings.port}); until then forms sent from "
             f"other addresses are refused and mailed links point to "
             f"{settings.public_url}")  # fmt: skip
    if settings.metrics and args.workers > 1:  # prometheus_client reads it from the environment
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="paperfeed-metrics-")
    # uvicorn imports the app factory again in each worker process: the settings go as one value
    os.environ[SETTINGS_ENV] = settings.to_json()
    _err(f"serving {redact(settings.db)} on http://{settings.host}:{settings.port} "
         "(Ctrl-C to stop)")  # fmt: skip
    proxies = list(settings.trusted_proxies)
    uvicorn.run("paperfeed.web.app:app_from_env", factory=True, host=settings.host,
                port=settings.port, workers=args.workers, log_config=None, access_log=False,
                proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)  # fmt: skip
    return EXIT_OK


# -- demo ----------------------------------------------------------------------------------


def bundled_seed_path() -> Path:
    return Path(str(resources.files("paperfeed") / "data" / "seed_papers.jsonl"))


def demo_dir() -> Path:
    return Path(str(resources.files("paperfeed") / "data" / "demo"))


def demo_files() -> list[Path]:
    """What the demo imports, all real arXiv metadata (see data/demo/PROVENANCE.md): the 227
    seed papers (titles and abstracts), 500 arXiv API records of March 2026 (authors,
    categories, links; no dates) and a recorded Hugging Face day, 2024-10-25 (dates, upvotes)."""
    folder = demo_dir()
    return [bundled_seed_path(), folder / "arxiv_api_2026-03.json",
            folder / "hf_daily_papers_2024-10-25.json"]  # fmt: skip


def _paperfeed_command() -> str:
    """The command as the user started it, for lines they can paste: `.venv/bin/paperfeed`
    after `make demo` (relative to where they stand), else `python -m paperfeed`."""
    script = Path(sys.argv[0])
    if script.name == "paperfeed" and script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m paperfeed"


def _print_demo_usage(path: str) -> None:
    db = shlex.quote(str(Path(path).resolve()))
    command = _paperfeed_command()
    print(f"\nThe demo's database is {db}. To use it from another terminal:")
    print(f"  export PAPERFEED_DB={db}")
    for example in DEMO_COMMANDS:
        print(f"  {command} {example}")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    path = sqlite_path(settings.db)
    if path is None:
        raise InputError("The demo makes a SQLite database of its own: give --db a file path, "
                         "or leave --db out.")  # fmt: skip
    if not args.no_serve and _says_port_taken(args):  # before the import, not after it
        return EXIT_PORT_IN_USE
    status = ingest_files(settings, [str(p) for p in demo_files()])
    vectors = demo_dir() / "vectors.npz"  # scripts/demo_data.py; embed_papers does the rest
    if vectors.is_file():
        import_vectors(settings, vectors)
    embed_papers(settings, batch_size=64)
    for query in DEMO_QUERIES:
        print(f"\n$ paperfeed search {query!r} --limit 3")
        run_search(settings, SearchRequest(query, limit=3, mode="hybrid"), as_json=False)
    print("\n$ paperfeed trending --window week --limit 3")
    print_trending(settings, "week", limit=3)
    _print_demo_usage(path)
    if args.no_serve:
        return status
    print(f"\nOpen http://{args.host}:{args.port}/ and search, e.g. for {DEMO_QUERIES[1]!r}.")
    sys.stdout.flush()
    args.workers, args.no_scheduler = 1, False
    return cmd_serve(settings, args)


# -- argument parsing ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperfeed",
        description="Self-hosted research-paper discovery: harvest arXiv and Hugging Face "
        "papers, search them by words and by meaning, rank what is trending, keep a library, and "
        "mail digests; `paperfeed serve` (or `demo`) runs the web UI and JSON API.",
    )
    parser.add_argument("--version", action="version", version=f"paperfeed {__version__}")
    parser.add_argument(
        "--db",
        help="database: a SQLite file path, sqlite:///path or "
        "postgresql://user:password@host/db (default: $PAPERFEED_DB, then ./paperfeed.db; "
        "a password is better kept in $PAPERFEED_DB than on the command line)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument(
        "--log-format", choices=FORMATS, help="text or JSON log lines ($PAPERFEED_LOG_FORMAT)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "ingest",
        help="import papers from JSONL files",
        description="Import papers from JSON-lines files: our own format, the seed papers, or "
        "the arXiv metadata snapshot (.jsonl or .jsonl.gz). Re-importing is safe. Exit code 3 "
        "means some lines were skipped, each named on stderr; 1 that a file could not be read "
        "to its end (a .gz cut short or damaged: the lines before the fault are imported), or "
        "the disk is full. Lines over PAPERFEED_MAX_LINE_BYTES (16 MiB) are skipped.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="JSONL file(s) to import")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "search",
        help="search papers by words and by meaning (hybrid; --mode keyword|semantic)",
        description='Search by words and by meaning. Use "quoted phrases" for exact phrases '
        "and -word to exclude a word; put -- before a query that starts with '-' "
        "(paperfeed search -- -word topic).",
    )
    p.add_argument("query", help="what to look for")
    p.add_argument("--limit", type=int, default=10, help="how many results (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument(
        "--category", action="append", help="arXiv category or archive, e.g. cs.LG or cs"
    )
    p.add_argument("--author", help="only papers with this author")
    p.add_argument("--since", type=_date_arg, help="first published on or after YYYY-MM-DD")
    p.add_argument("--until", type=_date_arg, help="first published on or before YYYY-MM-DD")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="hybrid",
        help="keyword (BM25), semantic (by meaning) or hybrid (both; the default)",
    )
    p.set_defaults(func=cmd_search)

    p = sub.add_parser(
        "related",
        help="papers nearest in meaning to one paper",
        description="The papers whose embeddings are nearest to one paper's, itself excluded.",
    )
    p.add_argument("id", help="paper id (arXiv id, DOI or our id)")
    p.add_argument("--limit", type=int, default=10, help="how many (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=cmd_related)

    p = sub.add_parser(
        "embed",
        help="compute missing embeddings for search by meaning",
        description="Embed every paper that has no embedding yet (or whose title/abstract "
        "changed), in batches; safe to interrupt and run again: finished batches are kept.",
    )
    p.add_argument("--batch-size", type=int, default=64, help="papers per batch (default 64)")
    p.add_argument(
        "--device", choices=("cpu", "cuda"), help="where to run the model (default: cpu)"
    )
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser(
        "embeddings",
        help="move embeddings between machines",
        description="Export stored embeddings to a file, or import them, e.g. to embed a large "
        "backlog on a GPU machine (paperfeed embed --device cuda) and bring the vectors home.",
    )
    actions = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, help="export or import"
    )
    a = actions.add_parser(
        "export", help="write vectors to a .npz file", description="Write vectors to a file."
    )
    a.add_argument("file", help="the .npz file to write")
    a.add_argument("--model", help="which model's vectors (needed when there are several)")
    a.set_defaults(func=cmd_embeddings_export)
    a = actions.add_parser(
        "import",
        help="read vectors from an exported file",
        description="Store the file's vectors for papers whose title and abstract are unchanged "
        "since they were embedded; the others are left for `paperfeed embed`.",
    )
    a.add_argument("file", help="a file written by `paperfeed embeddings export`")
    a.set_defaults(func=cmd_embeddings_import)

    p = sub.add_parser(
        "show",
        help="show one paper",
        description="Show one paper by id (arXiv id with or without version, DOI, or our id).",
    )
    p.add_argument("id", help="paper id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "reindex",
        help="rebuild the search index from the database",
        description="Throw the search indexes away and build them again from the database "
        "(stored embeddings are reused: the model is not needed).",
    )
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser(
        "sources",
        help="configure where new papers come from",
        description="Sources are harvested by `paperfeed harvest` (cron) or by the server's "
        "scheduler, each at its interval; a failing one backs off and shows its error here.",
    )
    actions = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, help="add, list, remove"
    )
    a = actions.add_parser(
        "add",
        help="add a source",
        description="Add a source. Kinds: arxiv (OAI-PMH, a set such as cs.LG; complete and "
        "incremental), arxiv-api (a search query), arxiv-listing (today's new submissions of "
        "categories, with announce types), hf-daily (Hugging Face daily papers with upvotes).",
    )
    a.add_argument("kind", choices=KINDS, help="what kind of source")
    a.add_argument("--set", help="arxiv: the set, e.g. cs.LG, cs, math or physics:hep-th")
    a.add_argument("--format", choices=OAI_FORMATS, default="arXiv",
                   help="arxiv: metadata format; arXivRaw adds every version's date")  # fmt: skip
    a.add_argument("--query", help="arxiv-api: the search query, e.g. 'cat:cs.LG AND abs:llm'")
    a.add_argument("--max-results", type=int, help="arxiv-api: at most this many per run (1000)")
    a.add_argument("--category", action="append", help="arxiv-listing: a category (repeatable)")
    a.add_argument("--since", type=_date_arg,
                   help="the first harvest starts here (default: 7 days ago)")  # fmt: skip
    a.add_argument("--every", type=_duration_arg,
                   help="interval, e.g. 30m, 6h, 1d (default: 6h for arxiv and arxiv-api, "
                   "2h for arxiv-listing and hf-daily)")  # fmt: skip
    a.add_argument("--name", help="a name of your own (default: from the kind and options)")
    a.set_defaults(func=cmd_sources_add)
    a = actions.add_parser(
        "list",
        help="show sources with their last and next run",
        description="Each source with its interval, last run, next run, papers added and its "
        "last error (with the next retry time) if it failed.",
    )
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(func=cmd_sources_list)
    a = actions.add_parser(
        "remove", help="remove a source", description="Remove a source; its papers stay."
    )
    a.add_argument("name", help="the source's name, as `sources list` shows it")
    a.set_defaults(func=cmd_sources_remove)

    p = sub.add_parser(
        "harvest",
        help="harvest sources now",
        description="Run sources now (all enabled ones, the named ones, or with --due only "
        "those whose time has come: put `paperfeed harvest --due` in cron). Exit code 0: new "
        "papers came; 4: every source ran and nothing new came; 1: a source failed (what the "
        "others brought is kept). What came is embedded for search by meaning and digests.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="source name(s)")
    p.add_argument("--due", action="store_true", help="only sources whose next run is due")
    p.add_argument("--no-embed", action="store_true",
                   help="leave new papers to `paperfeed embed` or a running server")  # fmt: skip
    p.set_defaults(func=cmd_harvest)

    p = sub.add_parser(
        "fetch",
        help="fetch papers by arXiv id",
        description="Look papers up on the arXiv API by id and store them (100 per request).",
    )
    p.add_argument(
        "ids", nargs="+", metavar="ID", help="arXiv ids, e.g. 2104.08663 or 2104.08663v2"
    )
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "trending",
        help="print the trending papers and why",
        description="Print a trending window's papers with each one's score and the part each "
        "signal contributes (see the README's Trending section for the formula). Recomputes "
        "first when the last ranking is older than PAPERFEED_TRENDING_EVERY_S (600 s).",
    )
    p.add_argument("--window", choices=list(trending.WINDOWS), default="week",
                   help="day, week or month (week)")  # fmt: skip
    p.add_argument("--limit", type=int, default=20, help="how many papers (20)")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--recompute", action="store_true", help="recompute the ranking first")
    p.set_defaults(func=cmd_trending)

    p = sub.add_parser(
        "digest",
        help="email digests: subscribe, send due digests, preview",
        description="Email digests. `digest run` does one pass (plan every due digest, send "
        "what is due; `paperfeed serve` does it every minute, cron can call this instead); "
        "`digest preview EMAIL` prints what that subscriber would get now; `digest subscribe "
        "EMAIL` adds an address (it gets a confirmation mail and nothing else until "
        "confirmed). Mail goes out through PAPERFEED_SMTP_HOST, or into the local outbox.",
    )
    actions = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, help="run, preview, subscribe, status"
    )
    a = actions.add_parser("run", help="plan due digests and send due mail, once")
    a.set_defaults(func=cmd_digest_run)
    a = actions.add_parser("preview", help="print the digest a subscriber would get now")
    a.add_argument("email", help="the subscriber's address")
    a.add_argument("--html", action="store_true", help="print the HTML part, not the text")
    a.set_defaults(func=cmd_digest_preview)
    a = actions.add_parser("subscribe", help="subscribe an address (double opt-in)")
    a.add_argument("email", help="the address")
    a.add_argument("--topic", help="a saved search for its digests, e.g. 'dataset distillation'")
    a.set_defaults(func=cmd_digest_subscribe)
    a = actions.add_parser("status", help="count subscribers and deliveries by state")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(func=cmd_digest_status)

    p = sub.add_parser(
        "channels",
        help="digest notifications to webhooks, Slack and Discord",
        description="Notification channels beyond email: a reader's digests (their saved "
        "searches, or their library when none is given) posted to a generic webhook (JSON, "
        "signed with HMAC-SHA256), a Slack or a Discord incoming webhook. URLs must be "
        "https:// on public addresses unless PAPERFEED_OUTBOUND_ALLOW allows a range. "
        "`paperfeed digest run` and `serve` deliver them with the email digests.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True,
                               help="add, list, remove, test, enable")  # fmt: skip
    a = actions.add_parser("add", help="add a channel for a reader",
                           description="Add a channel for a reader (they must have signed in "
                           "once). A webhook's signing secret is printed once.")  # fmt: skip
    a.add_argument("--user", required=True, help="the reader's sign-in address")
    a.add_argument("--kind", required=True, choices=("webhook", "slack", "discord"),
                   help="webhook, slack or discord")  # fmt: skip
    a.add_argument("--url", required=True, help="the receiver's https:// URL")
    a.add_argument("--search", action="append", metavar="TEXT",
                   help="a saved search (repeat; none: the reader's own digest)")  # fmt: skip
    a.add_argument("--frequency", default="daily", choices=("daily", "weekly"),
                   help="how often (daily)")  # fmt: skip
    a.set_defaults(func=cmd_channels_add)
    a = actions.add_parser("list", help="list channels, their state and failures",
                           description="List channels (all readers', or one's).")  # fmt: skip
    a.add_argument("--user", help="only this reader's channels")
    a.set_defaults(func=cmd_channels_list)
    a = actions.add_parser("remove", help="remove a channel and its delivery log",
                           description="Remove a channel and its delivery log.")  # fmt: skip
    a.add_argument("id", type=int, help="the channel's number (see `channels list`)")
    a.set_defaults(func=cmd_channels_remove)
    a = actions.add_parser("test", help="send a test message to a channel now",
                           description="Send a test message to a channel now (outside the "
                           "delivery ledger).")  # fmt: skip
    a.add_argument("id", type=int, help="the channel's number")
    a.set_defaults(func=cmd_channels_test)
    a = actions.add_parser("enable", help="switch a disabled channel on again",
                           description="Switch a disabled channel on again.")  # fmt: skip
    a.add_argument("id", type=int, help="the channel's number")
    a.set_defaults(func=cmd_channels_enable)

    p = sub.add_parser(
        "outbox",
        help="print the latest mail of the local outbox, decoded",
        description="Print the latest messages of the local Maildir outbox (where mail goes "
        "when PAPERFEED_SMTP_HOST is not set, as in the demo): From, To, Subject, Date and the "
        "text, decoded, so sign-in and confirmation links are whole and can be copied. The "
        "newest is printed last.",
    )
    p.add_argument("--limit", type=int, default=3, help="how many messages (3)")
    p.set_defaults(func=cmd_outbox)

    p = sub.add_parser(
        "status",
        help="sources, embedding backlog, index lag, deliveries, sizes",
        description="What the server and its pipeline are doing: each source's last run, "
        "error and next run; papers waiting to be embedded; how far the search indexes lag "
        "behind the database; subscribers and deliveries by state; database and index sizes.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "backup",
        help="copy the database to a file while the server runs",
        description="Copy one consistent snapshot of the database to FILE (readable by its "
        "owner only) with SQLite's online backup, while `paperfeed serve` and harvests go on "
        "writing; the copy is checked before it takes FILE's name. Restore by stopping the "
        "server and putting the copy in the database's place.",
    )
    p.add_argument("file", metavar="FILE", help="where to write the copy")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "copy-store",
        help="copy the whole database to another one (SQLite to PostgreSQL)",
        description="Copy every paper, vector, source, reader, library, subscriber and "
        "delivery from FROM to TO, keeping ids, change numbers, the store id and signing keys "
        "(mailed links and indexes stay valid), a batch per transaction with a progress bar. "
        "Stop `paperfeed serve` on FROM first. TO must be empty, or an earlier copy of FROM "
        "that was stopped: the copy then goes on where it stopped. The copy is checked (rows "
        "of every table, a sample of papers and vectors) before it says done. Each database "
        "is a SQLite file path, sqlite:///path or postgresql://user:password@host/db.",
    )
    p.add_argument("source", metavar="FROM", help="the database to copy")
    p.add_argument("target", metavar="TO", help="the database to copy into")
    p.add_argument("--batch", type=int, default=5000, help="rows per transaction (5000)")
    p.set_defaults(func=cmd_copy_store)

    p = sub.add_parser(
        "serve",
        help="serve the web UI and the JSON API",
        description="Serve the web UI, the JSON API and feeds, and run the background "
        "pipeline in the same process (unless --no-scheduler): harvest the sources, embed new "
        "papers, recompute trending, send digests.",
    )
    _listen_args(p)
    p.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    p.add_argument("--no-scheduler", action="store_true",
                   help="no background pipeline here (harvest, embed, digests): leave it to "
                   "cron (`paperfeed harvest --due`, `paperfeed digest run`)")  # fmt: skip
    p.add_argument("--access-log", action="store_true",
                   help="log every request ($PAPERFEED_ACCESS_LOG=1)")  # fmt: skip
    p.add_argument("--metrics", action="store_true",
                   help="serve /metrics for Prometheus ($PAPERFEED_METRICS=1)")  # fmt: skip
    p.add_argument(
        "--trusted-proxies",
        metavar="ADDRS",
        help="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
        "and X-Forwarded-Proto headers are believed (default: $PAPERFEED_TRUSTED_PROXIES, "
        "then none)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "demo",
        help="import the bundled sample papers and serve the web UI on them",
        description="Import the bundled real arXiv metadata (227 seed papers, 500 arXiv API "
        "records, a recorded Hugging Face day with its upvotes) with their precomputed vectors, "
        "print example searches, trending and commands to try, and serve the web UI "
        "(http://127.0.0.1:8000/ unless told otherwise).",
    )
    _listen_args(p)
    p.add_argument("--no-serve", action="store_true", help="stop after the example searches")
    p.set_defaults(func=cmd_demo)
    return parser


def _listen_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")


def _settings(args: argparse.Namespace) -> Settings:
    """The environment's settings, with the flags every command takes over them."""
    settings = load_settings(db=args.db)
    level = "INFO" if args.verbose else settings.log_level
    return dataclasses.replace(settings, log_format=args.log_format or settings.log_format,
                               log_level=level)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        setup_logging(settings.log_level, settings.log_format)
        path = sqlite_path(settings.db)  # (a server's database is the server's to protect)
        if path is not None and (warning := privacy_warning(path)):
            _err(f"warning: {warning}")
        status: int = args.func(settings, args)
        return status
    except PaperfeedError as e:
        _err(f"error: {e}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK
