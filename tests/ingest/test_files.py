"""import_file into a real SQLite store: the real fixtures, bad lines, re-imports, versions."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from paperfeed.errors import InputError
from paperfeed.ingest.files import import_file
from paperfeed.models import Paper
from paperfeed.store import Store, open_store
from tests.conftest import API_500, SEED, SNAPSHOT
from tests.sources import HF_DAY


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    store = open_store(str(tmp_path / "t.db"))
    yield store
    store.close()


def all_papers(store: Store) -> list[Paper]:
    return [change.paper for change in store.iter_changes(0)]


def write_jsonl(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# -- the real fixtures -------------------------------------------------------------------------


def test_snapshot_sample_gives_1000_papers(db: Store) -> None:
    report = import_file(db, SNAPSHOT)
    assert report.errors == []
    assert (report.lines, report.papers) == (1000, 1000)
    assert (report.result.added, report.result.updated, report.result.unchanged) == (1000, 0, 0)
    assert db.count_papers() == 1000
    papers = all_papers(db)
    assert sorted(p.id for p in papers) == [f"0704.{n:04d}" for n in range(1, 1001)]
    assert all(p.authors and p.categories for p in papers)
    assert all(p.published and p.updated and p.version for p in papers)
    first = db.get_paper("0704.0001")
    assert first is not None
    assert first.authors == ("C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan")
    assert first.categories == ("hep-ph",)
    assert first.published == datetime(2007, 4, 2, 19, 18, 42, tzinfo=UTC)
    assert first.updated == datetime(2007, 7, 24, 20, 10, 27, tzinfo=UTC)
    assert first.doi == "10.1103/physrevd.76.013009"
    assert db.get_paper("arXiv:0704.0001v2") == first
    assert db.get_paper("10.1103/PhysRevD.76.013009") == first


def test_importing_the_snapshot_again_changes_nothing(db: Store) -> None:
    import_file(db, SNAPSHOT)
    mark, before = db.last_change(), all_papers(db)
    report = import_file(db, SNAPSHOT)
    assert report.result.unchanged == 1000
    assert (report.result.added, report.result.updated) == (0, 0)
    assert db.last_change() == mark
    assert db.count_papers() == 1000
    assert all_papers(db) == before


def test_small_batches_give_the_same_papers(db: Store, tmp_path: Path) -> None:
    import_file(db, SNAPSHOT)
    other = open_store(str(tmp_path / "batched.db"))
    try:
        report = import_file(other, SNAPSHOT, batch_size=7)
        assert report.result.added == 1000
        assert all_papers(other) == all_papers(db)
    finally:
        other.close()


def test_on_bytes_reports_the_whole_file(db: Store) -> None:
    seen: list[int] = []
    import_file(db, SNAPSHOT, batch_size=500, on_bytes=seen.append)
    assert sum(seen) == SNAPSHOT.stat().st_size


def test_seed_file_gives_227_papers_twice_still_227(db: Store) -> None:
    first = import_file(db, SEED)
    assert (first.lines, first.errors, first.result.added) == (227, [], 227)
    mark = db.last_change()
    second = import_file(db, SEED)
    assert second.result.unchanged == 227
    assert db.count_papers() == 227
    assert db.last_change() == mark
    assert all(p.id.startswith("h") and p.abstract for p in all_papers(db))


def test_a_file_holding_one_json_array(db: Store) -> None:
    report = import_file(db, API_500)
    assert report.errors == []
    assert report.result.added == 500
    assert db.count_papers() == 500
    paper = db.get_paper("2603.11048v1")
    assert paper is not None
    assert paper.id == "2603.11048"
    assert paper.title == "COMIC: Agentic Sketch Comedy Generation"
    assert paper.authors[0] == "Susung Hong"
    assert paper.version == 1
    assert paper.extra == {"year": "2026"}


def test_a_repeated_category_is_kept_once(db: Store, tmp_path: Path) -> None:
    import_file(
        db,
        write_jsonl(
            tmp_path / "c.jsonl", {"title": "T", "categories": ["cs.CV", "cs.AI", "cs.CV"]}
        ),
    )
    [paper] = all_papers(db)
    assert paper.categories == ("cs.CV", "cs.AI")


def test_hugging_face_entries_as_json_lines_are_read_too(db: Store, tmp_path: Path) -> None:
    entries = json.loads(HF_DAY.read_bytes())
    report = import_file(db, write_jsonl(tmp_path / "day.jsonl", *entries, {"title": "Ours"}))
    assert report.errors == [] and report.result.added == 5 and report.announcements == 4
    [featured] = db.get_announcements(entries[0]["paper"]["id"])
    assert (featured.list, featured.day.isoformat(), featured.kind) == (
        "hf-daily",
        "2024-10-25",
        "featured",
    )
    bad = {**entries[1], "paper": {**entries[1]["paper"], "id": "not an id"}}
    skipped = import_file(db, write_jsonl(tmp_path / "bad.jsonl", entries[0], bad))
    assert [e.line for e in skipped.errors] == [2] and "not an arXiv id" in skipped.errors[0].reason


def test_a_gzipped_copy_imports_the_same(db: Store, tmp_path: Path) -> None:
    gz = tmp_path / "snapshot.jsonl.gz"
    gz.write_bytes(gzip.compress(SNAPSHOT.read_bytes()))
    report = import_file(db, gz)
    assert report.errors == []
    assert report.result.added == 1000
    plain = open_store(str(tmp_path / "plain.db"))
    try:
        import_file(plain, SNAPSHOT)
        assert all_papers(db) == all_papers(plain)
    finally:
        plain.close()


# -- bad input ---------------------------------------------------------------------------------


def test_bad_lines_are_reported_with_their_numbers_and_the_rest_goes_in(
    db: Store, tmp_path: Path
) -> None:
    good = SNAPSHOT.read_bytes().splitlines(keepends=True)
    parts = [
        *good[:10],
        b"{not json\n",  # line 11
        *good[10:250],
        b"[1, 2, 3]\n",  # line 252
        *good[250:500],
        b"   \n",  # line 503: blank, skipped but counted in the numbering
        b'{"title": "", "abstract": "no title"}\n',  # line 504
        *good[500:750],
        b'{"title": "caf\xe9"}\n',  # line 755: Latin-1, not UTF-8
        *good[750:],
        b"\n",
    ]
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_bytes(b"".join(parts))

    report = import_file(db, dirty)

    assert [e.line for e in report.errors] == [11, 252, 504, 755]
    reasons = [e.reason for e in report.errors]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "expected a JSON object, got list"
    assert reasons[2] == "no title"
    assert reasons[3] == "not valid UTF-8 text"
    assert str(report.errors[0]).startswith("line 11: ")
    assert report.lines == 1004
    assert report.papers == 1000
    assert report.result.added == 1000
    assert db.count_papers() == 1000


def test_a_bad_first_line_that_is_a_json_list_loses_only_that_line(
    db: Store, tmp_path: Path
) -> None:
    path = tmp_path / "first-line-list.jsonl"
    path.write_bytes(b"[1, 2]\n" + b"".join(SNAPSHOT.read_bytes().splitlines(True)[:5]))
    report = import_file(db, path)
    assert [e.line for e in report.errors] == [1]
    assert db.count_papers() == 5


def test_an_out_of_range_date_is_one_bad_line(db: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "dates.jsonl",
        {"title": "Fine"},
        {"title": "Edge", "published": "0001-01-01T00:00:00+01:00"},
        {"title": "Also fine"},
    )
    report = import_file(db, path)
    assert [e.line for e in report.errors] == [2]
    assert db.count_papers() == 2


def test_a_missing_file_is_an_input_error(db: Store, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(InputError) as caught:
        import_file(db, missing)
    message = str(caught.value)
    assert str(missing) in message
    assert "No such file" in message
    assert "Errno" not in message


def test_a_folder_is_an_input_error(db: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        import_file(db, tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "folder" in message
    assert "Errno" not in message
    assert db.count_papers() == 0


def test_a_broken_gzip_keeps_the_lines_before_the_break(db: Store, tmp_path: Path) -> None:
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(SNAPSHOT.read_bytes())[:5000])
    report = import_file(db, gz)
    assert report.fault is not None and "truncated .gz" in report.fault
    assert report.errors == [] and db.count_papers() == report.papers > 0


# -- one paper across files --------------------------------------------------------------------


def test_a_newer_version_in_a_later_file_replaces_content_not_the_first_date(
    db: Store, tmp_path: Path
) -> None:
    v1 = write_jsonl(
        tmp_path / "v1.jsonl",
        {
            "id": "2104.08663v1",
            "title": "BEIR: a benchmark",
            "abstract": "First abstract.",
            "authors": ["Nandan Thakur"],
            "published": "2021-04-17T10:00:00Z",
            "updated": "2021-04-17T10:00:00Z",
        },
    )
    v2 = write_jsonl(
        tmp_path / "v2.jsonl",
        {
            "id": "2104.08663v2",
            "title": "BEIR: A Heterogenous Benchmark for Zero-shot Evaluation",
            "abstract": "Second abstract.",
            "published": "2021-10-21T00:00:00Z",
            "updated": "2021-10-21T00:00:00Z",
        },
    )
    import_file(db, v1)
    report = import_file(db, v2)
    assert (report.result.added, report.result.updated) == (0, 1)
    paper = db.get_paper("2104.08663")
    assert paper is not None
    assert paper.title == "BEIR: A Heterogenous Benchmark for Zero-shot Evaluation"
    assert paper.abstract == "Second abstract."
    assert paper.version == 2
    assert paper.updated == datetime(2021, 10, 21, tzinfo=UTC)
    assert paper.published == datetime(2021, 4, 17, 10, tzinfo=UTC)
    assert paper.authors == ("Nandan Thakur",)  # v2 had none: the gap is filled
    assert db.count_papers() == 1

    again = import_file(db, v1)  # the old version once more changes nothing
    assert again.result.unchanged == 1
    assert db.get_paper("2104.08663") == paper


def test_a_seed_record_and_its_arxiv_record_become_one_paper(db: Store, tmp_path: Path) -> None:
    line = SNAPSHOT.read_bytes().splitlines(keepends=True)[1]  # 0704.0002
    abstract = " ".join(json.loads(line)["abstract"].split())  # as the seed file spells it
    seed = write_jsonl(
        tmp_path / "seed.jsonl",
        {"title": "Sparsity-Certifying Graph Decompositions.", "abstract": abstract},
    )
    snapshot = tmp_path / "snapshot.jsonl"
    snapshot.write_bytes(line)

    import_file(db, seed)
    [old_id] = [p.id for p in all_papers(db)]
    assert old_id.startswith("h")
    report = import_file(db, snapshot)

    assert (report.result.added, report.result.updated) == (0, 1)
    assert db.count_papers() == 1
    paper = db.get_paper("0704.0002")
    assert paper is not None
    assert paper.id == paper.arxiv_id == "0704.0002"
    assert paper.title == "Sparsity-certifying Graph Decompositions"
    assert paper.authors == ("Ileana Streinu", "Louis Theran")
    assert paper.sources == ("jsonl", "arxiv-snapshot")
    assert db.get_paper(old_id) == paper

    import_file(db, seed)  # the seed again does not split or revert it
    assert db.count_papers() == 1
    assert db.get_paper(old_id) == paper


# -- damaged files: every good line before a fault is kept --------------------------------------


def numbered_lines(n: int) -> bytes:
    """`n` good JSON lines of our own format, ids x0 ... x{n-1}."""
    return b"".join(
        json.dumps(
            {"id": f"x{i}", "title": f"Paper number {i}", "abstract": "word " * (i % 40)}
        ).encode()
        + b"\n"
        for i in range(n)
    )


@pytest.mark.parametrize("first", [b"[1, 2\n", b"[" * 5000 + b"\n", b'[{"title": "cut short"}, \n'])
def test_a_broken_first_line_that_opens_a_list_loses_only_that_line(
    db: Store, tmp_path: Path, first: bytes
) -> None:
    path = tmp_path / "first-line.jsonl"
    path.write_bytes(first + numbered_lines(5))
    report = import_file(db, path)
    assert [e.line for e in report.errors] == [1]
    assert report.fault is None
    assert db.count_papers() == 5


@pytest.mark.parametrize("end", [b"", b"\n", b"\r\n  \n"])
def test_a_short_one_line_json_array_is_read_as_an_array(
    db: Store, tmp_path: Path, end: bytes
) -> None:
    path = tmp_path / "one-line.json"
    path.write_bytes(b' [{"title": "First"}, {"title": "Second"}]' + end)
    report = import_file(db, path)
    assert (report.errors, report.fault, report.result.added) == ([], None, 2)
    assert sorted(p.title for p in all_papers(db)) == ["First", "Second"]


def test_a_utf8_bom_on_the_first_line_is_accepted(db: Store, tmp_path: Path) -> None:
    lines = tmp_path / "bom.jsonl"
    lines.write_bytes(b"\xef\xbb\xbf" + numbered_lines(3))
    array = tmp_path / "bom.json"
    array.write_bytes(b'\xef\xbb\xbf[{"title": "In an array"}]\n')
    assert import_file(db, lines).errors == []
    assert import_file(db, array).errors == []
    assert db.count_papers() == 4
    assert db.get_paper("x0") is not None


def test_a_gz_cut_short_keeps_every_line_before_the_cut(db: Store, tmp_path: Path) -> None:
    whole = gzip.compress(numbered_lines(3000), mtime=0)
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(whole[:-20])  # the end of the data and the trailer are missing
    report = import_file(db, gz)
    assert report.errors == []
    assert report.fault is not None
    kept = report.papers
    assert 2900 < kept < 3000
    assert report.fault == f"the file ends early (truncated .gz) after line {kept}"
    assert db.count_papers() == kept
    assert db.get_paper(f"x{kept - 1}") is not None and db.get_paper(f"x{kept}") is None


@pytest.mark.parametrize("where", [0.25, 0.5, 0.75])
def test_a_flipped_byte_in_a_gz_keeps_what_came_before_and_names_the_line(
    db: Store, tmp_path: Path, where: float
) -> None:
    data = bytearray(gzip.compress(numbered_lines(3000), mtime=0))
    data[int(len(data) * where)] ^= 0xFF
    gz = tmp_path / "flipped.jsonl.gz"
    gz.write_bytes(bytes(data))
    report = import_file(db, gz)
    assert report.fault is not None and report.fault.startswith("the .gz data is damaged (")
    broke = int(report.fault.split("stops making sense at line ")[1].split(",")[0])
    assert report.errors == []  # what follows the damage is not read as lines of the file
    assert report.papers == broke - 1 > 400
    assert db.count_papers() <= broke - 1  # nothing from that line on was stored
    before = {p.id: p for p in all_papers(db)}
    for i in range(400):  # well before the damage: each line as it was
        assert before[f"x{i}"].title == f"Paper number {i}"


def test_a_file_named_gz_that_is_not_gzip_is_a_fault_not_a_traceback(
    db: Store, tmp_path: Path
) -> None:
    gz = tmp_path / "plain.jsonl.gz"
    gz.write_bytes(numbered_lines(3))
    report = import_file(db, gz)
    assert report.fault == "it is not gzip data, though its name ends in .gz"
    assert db.count_papers() == 0


def test_a_line_over_the_maximum_is_skipped_by_number_and_its_neighbours_go_in(
    db: Store, tmp_path: Path
) -> None:
    good = numbered_lines(4).splitlines(keepends=True)
    giant = json.dumps({"title": "Giant", "abstract": "x" * 5000}).encode() + b"\n"
    path = tmp_path / "giant.jsonl"
    path.write_bytes(good[0] + good[1] + giant + good[2] + giant.rstrip(b"\n") + b"\n" + good[3])
    report = import_file(db, path, max_line_bytes=1000)
    assert [e.line for e in report.errors] == [3, 5]
    assert report.errors[0].reason == (
        "the line is longer than 1,000 bytes (PAPERFEED_MAX_LINE_BYTES); skipped"
    )
    assert report.fault is None
    assert sorted(p.id for p in all_papers(db)) == ["x0", "x1", "x2", "x3"]


def test_a_giant_line_is_never_held_whole(db: Store, tmp_path: Path) -> None:
    path = tmp_path / "giant.jsonl"
    with path.open("wb") as f:
        f.write(numbered_lines(1))
        f.write(b'{"title": "Giant", "abstract": "')
        for _ in range(32):
            f.write(b"y" * 2**18)  # 8 MiB in all
        f.write(b'"}\n')
        f.write(numbered_lines(2).splitlines(keepends=True)[1])
    tracemalloc.start()
    try:
        report = import_file(db, path, max_line_bytes=2**16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e.line for e in report.errors] == [2]
    assert db.count_papers() == 2
    assert peak < 4 * 2**20, f"{peak:,} bytes at the peak"


def test_an_id_with_a_line_break_is_refused_by_line_number(db: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "ids.jsonl",
        {"id": "fine", "title": "Fine"},
        {"id": "two\r\nlines", "title": "Broken id"},
        {"id": "also-fine", "title": "Null\u0000 in the title"},
    )
    report = import_file(db, path)
    assert [str(e) for e in report.errors] == [
        "line 2: field 'id' holds a control character (U+000D); a paper id must be printable"
    ]
    assert sorted(p.id for p in all_papers(db)) == ["also-fine", "fine"]
    paper = db.get_paper("also-fine")
    assert paper is not None and paper.title == "Null in the title"
