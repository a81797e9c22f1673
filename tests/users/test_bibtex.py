"""BibTeX export and identifier import: every id spelling, real-world .bib styles, hostile
titles, and round trips through our parser and the real bibtexparser."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import bibtexparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.models import Paper
from paperfeed.users.bibtex import (
    MAX_IMPORT_ITEMS,
    MAX_PROBLEMS,
    MAX_READ,
    ImportItem,
    ImportResult,
    format_bibtex,
    parse_bibtex,
    parse_import,
    parse_ref,
)

# Deterministic runs that leave nothing behind: the suite must give the same answer every time.
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=100)


def arxiv_paper(arxiv_id: str = "2410.17243", **kw: object) -> Paper:
    fields: dict[str, object] = {
        "title": "Attention Is All You Need",
        "abstract": "We propose the Transformer, with $\\alpha$-scaled attention.",
        "authors": ("Ashish Vaswani", "Noam Shazeer"),
        "categories": ("cs.CL", "cs.LG"),
        "published": datetime(2024, 10, 22, tzinfo=UTC),
        **kw,
    }
    return Paper(id=arxiv_id, arxiv_id=arxiv_id, **fields)  # type: ignore[arg-type]


def refs(text: str) -> list[str]:
    return [item.ref for item in parse_import(text).items]


def bib_titles(text: str) -> list[str]:
    """Titles as the real bibtexparser reads them, protective braces stripped."""
    library = bibtexparser.parse_string(text)
    assert library.failed_blocks == []
    return [
        e.fields_dict["title"].value.removeprefix("{").removesuffix("}") for e in library.entries
    ]


# -- plain lists -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "ref"),
    [
        ("2410.17243", "2410.17243"),
        ("2410.17243v2", "2410.17243"),
        ("0704.0001", "0704.0001"),
        ("arXiv:2410.17243", "2410.17243"),
        ("ARXIV:2410.17243v3", "2410.17243"),
        ("https://arxiv.org/abs/2410.17243v1", "2410.17243"),
        ("http://arxiv.org/abs/2410.17243", "2410.17243"),
        ("https://arxiv.org/pdf/2410.17243", "2410.17243"),
        ("https://arxiv.org/pdf/2410.17243v2.pdf", "2410.17243"),
        ("https://www.arxiv.org/abs/2410.17243?context=cs", "2410.17243"),
        ("https://export.arxiv.org/abs/2410.17243/", "2410.17243"),
        ("https://arxiv.org/html/2410.17243v1", "2410.17243"),
        ("arxiv.org/abs/2410.17243", "2410.17243"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("hep-th/9901001v2", "hep-th/9901001"),
        ("math.GT/0309136", "math.GT/0309136"),
        ("arXiv:math.GT/0309136v1", "math.GT/0309136"),
        ("https://arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001"),
        ("10.1145/3442188.3445922", "10.1145/3442188.3445922"),
        ("10.1038/NATURE14539", "10.1038/nature14539"),
        ("doi:10.1145/1234", "10.1145/1234"),
        ("https://doi.org/10.1145/1234", "10.1145/1234"),
        ("http://dx.doi.org/10.1145/1234", "10.1145/1234"),
        ("https://doi.org/10.1002/%28SICI%291097-4636", "10.1002/(sici)1097-4636"),
        ("https://doi.org/10.48550/arXiv.2410.17243", "2410.17243"),
        ("10.48550/ARXIV.2410.17243", "2410.17243"),
        ("<2410.17243>", "2410.17243"),
        ("2410.17243.", "2410.17243"),
    ],
)
def test_every_spelling_of_an_id_gives_the_store_ref(token: str, ref: str) -> None:
    assert parse_ref(token) == ref
    assert parse_import(token) == ImportResult(items=[ImportItem(ref, 1)], problems=[])


@pytest.mark.parametrize(
    "token", ["foo", "2410.172", "24101.7243", "10.1145", "10.x/abc", "arxiv.org/abs/", "doi:"]
)
def test_a_token_that_is_no_id_is_none(token: str) -> None:
    assert parse_ref(token) is None


def test_a_list_splits_on_white_space_and_commas_and_skips_comments() -> None:
    text = (
        "# my reading list\n"
        "\n"
        "2410.17243v2, 2301.00001\t10.1145/1234\n"
        "   arXiv: 2302.00002   # the one from Tuesday\n"
        "https://arxiv.org/abs/2410.17243v1\n"  # duplicate of line 3, dropped
        "\r\n"
        "hep-th/9901001,\r\n"
    )
    assert parse_import(text).items == [
        ImportItem("2410.17243", 3),
        ImportItem("2301.00001", 3),
        ImportItem("10.1145/1234", 3),
        ImportItem("2302.00002", 4),
        ImportItem("hep-th/9901001", 7),
    ]
    assert parse_import(text).problems == []


def test_what_is_not_an_id_is_one_sentence_with_its_line() -> None:
    result = parse_import("2410.17243\nfoo 2301.00001\n")
    assert result.items == [ImportItem("2410.17243", 1), ImportItem("2301.00001", 2)]
    assert result.problems == ["Line 2: 'foo' is not an arXiv id, a DOI or a BibTeX entry."]


def test_blank_text_imports_nothing_without_complaint() -> None:
    assert parse_import("") == ImportResult(items=[], problems=[])
    assert parse_import("\n  \n# only a comment\n") == ImportResult(items=[], problems=[])


def test_more_than_the_cap_keeps_the_first_items_and_says_so() -> None:
    ids = [f"2401.{n:05d}" for n in range(1, MAX_IMPORT_ITEMS + 3)]
    result = parse_import("\n".join(ids))
    assert [item.ref for item in result.items] == ids[:MAX_IMPORT_ITEMS]
    assert result.problems == [
        "The import holds more than 5,000 papers; only the first 5,000 were kept."
    ]


def test_duplicates_do_not_count_against_the_cap() -> None:
    result = parse_import("2401.00001\n" * (MAX_IMPORT_ITEMS + 10))
    assert result == ImportResult(items=[ImportItem("2401.00001", 1)], problems=[])


def test_problems_are_capped_too() -> None:
    result = parse_import(" ".join(f"junk{n}" for n in range(MAX_PROBLEMS * 3)))
    assert len(result.problems) == MAX_PROBLEMS + 1
    assert result.problems[-1] == f"Only the first {MAX_PROBLEMS} problems are listed."


def test_reading_stops_after_max_read_ids_or_entries_and_says_where() -> None:
    """2 MB of `@` lines (a million tokens, 10 s inside the write lock on a real server) reads
    MAX_READ of them and stops with one sentence."""
    result = parse_import("@\n" * 1_000_000)
    assert result.items == []
    assert result.problems[-1] == (
        f"Reading stopped at line {MAX_READ + 1:,}: it holds more than {MAX_READ:,} ids or "
        "entries; import the rest on its own."
    )
    bib = parse_import("@misc{k, eprint={2401.00001}}\n" * (MAX_READ + 5))
    assert [item.ref for item in bib.items] == ["2401.00001"]
    assert bib.problems[-1].startswith(f"Reading stopped at line {MAX_READ + 1:,}:")


def test_unclosed_comment_blocks_cost_no_more_than_closed_ones() -> None:
    """Each `@comment{` that never closes was looked for to the end of the text: quadratic (6,000
    of them took seconds, 2 MB of them hours). Where blocks end is now found in one pass."""
    for text in ("@comment{\n" * 6000, "@string{" * 6000, "@comment{" + "{}" * 100_000):
        started = time.perf_counter()
        result = parse_import(text + "@misc{k, eprint={2401.00001}}")
        assert time.perf_counter() - started < 1.0, text[:20]
        assert [item.ref for item in result.items] == ["2401.00001"]


def test_unclosed_blocks_are_skipped_as_bibtex_skips_them() -> None:
    text = (
        "@comment{ never closed\n"
        "@misc{a, eprint = {2401.00001}}\n"
        "@comment{closed {with {nested}} braces @misc{no, eprint = {2401.00009}}}\n"
        "@string{x = {unclosed} @misc{b, eprint = {2401.00002}}\n"
    )
    assert refs(text) == ["2401.00001", "2401.00002"]


def test_a_time_budget_stops_reading_as_a_backstop() -> None:
    ticks = iter(range(1_000_000))
    result = parse_import("2401.00001 2401.00002 2401.00003 2401.00004", budget_s=2.5,
                          clock=lambda: float(next(ticks)))  # fmt: skip
    assert [item.ref for item in result.items] == ["2401.00001", "2401.00002"]
    assert result.problems == [
        "Reading stopped at line 1: reading it took more than 2.5 s; import the rest on its own."
    ]


def test_a_giant_line_is_read_token_by_token() -> None:
    result = parse_import("arXiv: 2401.00001 " + "x " * 1_000_000)
    assert [item.ref for item in result.items] == ["2401.00001"]
    assert result.problems[-1].startswith("Reading stopped at line 1:")


def test_a_long_bad_token_is_shortened_in_its_sentence() -> None:
    (problem,) = parse_import("x" * 500).problems
    assert len(problem) < 120
    assert "xxx..." in problem


# -- BibTeX in ---------------------------------------------------------------------------------

GOOGLE_SCHOLAR = """\
@article{vaswani2017attention,
  title={Attention is all you need},
  author={Vaswani, Ashish and Shazeer, Noam and Parmar, Niki and Kaiser, {\\L}ukasz},
  journal={Advances in neural information processing systems},
  volume={30},
  year={2017}
}

@article{devlin2018bert,
  title={Bert: Pre-training of deep bidirectional transformers for language understanding},
  author={Devlin, Jacob and Chang, Ming-Wei and Lee, Kenton and Toutanova, Kristina},
  journal={arXiv preprint arXiv:1810.04805},
  year={2018}
}
"""

ARXIV_EXPORT = """\
@misc{vaswani2023attentionneed,
      title={Attention Is All You Need},
      author={Ashish Vaswani and Noam Shazeer and Niki Parmar},
      year={2023},
      eprint={1706.03762},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/1706.03762},
}
"""

DBLP = """\
@article{DBLP:journals/corr/abs-2410-17243,
  author       = {Zhiyuan Li and
                  Wei Zhang},
  title        = {A Paper on {LLM} Things},
  journal      = {CoRR},
  volume       = {abs/2410.17243},
  year         = {2024},
  url          = {https://doi.org/10.48550/arXiv.2410.17243},
  doi          = {10.48550/ARXIV.2410.17243},
  eprinttype    = {arXiv},
  eprint       = {2410.17243},
  timestamp    = {Mon, 25 Nov 2024 16:43:00 +0100},
  biburl       = {https://dblp.org/rec/journals/corr/abs-2410-17243.bib},
  bibsource    = {dblp computer science bibliography, https://dblp.org}
}

@inproceedings{DBLP:conf/fat/BenderGMS21,
  author       = {Emily M. Bender and
                  Timnit Gebru},
  title        = {On the Dangers of Stochastic Parrots: Can Language Models Be Too Big?},
  booktitle    = {{FAccT} '21},
  pages        = {610--623},
  publisher    = {{ACM}},
  year         = {2021},
  url          = {https://doi.org/10.1145/3442188.3445922},
  doi          = {10.1145/3442188.3445922},
}
"""


def test_google_scholar_gives_an_id_from_the_journal_and_skips_the_rest() -> None:
    result = parse_import(GOOGLE_SCHOLAR)
    assert result.items == [ImportItem("1810.04805", 9)]
    assert result.problems == [
        "Entry 'vaswani2017attention' (line 1) has no arXiv id or DOI; skipped."
    ]


def test_arxiv_export_gives_the_eprint() -> None:
    assert parse_import(ARXIV_EXPORT) == ImportResult([ImportItem("1706.03762", 1)], [])


def test_dblp_gives_the_eprint_then_the_doi() -> None:
    assert parse_import(DBLP) == ImportResult(
        [ImportItem("2410.17243", 1), ImportItem("10.1145/3442188.3445922", 17)], []
    )


def test_the_id_comes_from_the_first_field_that_has_one() -> None:
    entries = {
        "@misc{a, eprint = {arXiv:2401.00001v2}, doi = {10.1/x}}": "2401.00001",
        "@misc{a, arxiv = {2401.00002}, doi = {10.1145/x}}": "2401.00002",
        "@misc{a, arxivid = {hep-th/9901001}}": "hep-th/9901001",
        "@misc{a, url = {https://arxiv.org/abs/2401.00003v1}}": "2401.00003",
        "@misc{a, note = {arXiv: 2401.00004}}": "2401.00004",
        "@misc{a, howpublished = {\\url{https://arxiv.org/pdf/2401.00005}}}": "2401.00005",
        "@misc{a, doi = {10.1145/ABC\\_def}}": "10.1145/abc_def",
        "@misc{a, doi = {https://doi.org/10.1145/xyz}}": "10.1145/xyz",
        "@misc{a, url = {https://doi.org/10.1145/from-url}}": "10.1145/from-url",
        "@misc{a, eprint = {2401.00006}, archivePrefix = {arXiv}}": "2401.00006",
    }
    for text, ref in entries.items():
        assert refs(text) == [ref], text


def test_an_eprint_of_another_archive_is_not_taken_for_arxiv() -> None:
    text = "@misc{a, eprint = {2401.00001}, archivePrefix = {HAL}, doi = {10.1145/hal}}"
    assert refs(text) == ["10.1145/hal"]


def test_a_malformed_entry_in_the_middle_is_one_problem_and_reading_goes_on() -> None:
    text = (
        "@misc{first, eprint = {2401.00001}}\n"
        "@article{broken,\n"
        "  title = {An unclosed {brace,\n"
        "  eprint = {2401.00002}\n"
        "}\n"
        "@misc{third, eprint = {2401.00003}}\n"
        "@misc{nofield, title {missing equals}}\n"
        "@misc{fourth, eprint = {2401.00004}}\n"
    )
    result = parse_import(text)
    assert [item.ref for item in result.items] == ["2401.00001", "2401.00003", "2401.00004"]
    assert result.problems == [
        "Entry 'broken' (line 2) could not be read: a brace or quote is not closed; skipped.",
        "Entry 'nofield' (line 7) could not be read: expected a field name or a closing brace, "
        "found 'title {missing eq...'; skipped.",
    ]


def test_comments_strings_and_preambles_are_skipped() -> None:
    text = (
        '@string{jmlr = "Journal of Machine Learning Research"}\n'
        '@preamble{"\\newcommand{\\noopsort}[1]{}"}\n'
        "@comment{@misc{old, eprint = {2401.99999}}}\n"
        "@Comment{jabref-meta: databaseType:bibtex;}\n"
        "Free text between entries is a comment too: 2401.88888\n"
        "@ARTICLE{k, journal = jmlr, eprint = {2401.00001}}\n"
    )
    assert parse_import(text) == ImportResult([ImportItem("2401.00001", 6)], [])


def test_quoted_values_concatenation_numbers_and_parentheses() -> None:
    text = (
        '@misc(paren, title = "A {"}quoted{"} " # jmlr # "title", year = 2020,\n'
        '  eprint = "2401.00001")\n'
    )
    (entry,) = parse_bibtex(text)
    assert entry == {
        "title": 'A {"}quoted{"} jmlrtitle',
        "year": "2020",
        "eprint": "2401.00001",
        "ENTRYTYPE": "misc",
        "ID": "paren",
    }


def test_parse_bibtex_lowercases_names_and_keeps_the_first_of_duplicate_fields() -> None:
    (entry,) = parse_bibtex("@InProceedings{Key:1,\n  TITLE = {One},\n  title = {Two}\n}")
    assert entry == {"title": "One", "ENTRYTYPE": "inproceedings", "ID": "Key:1"}


def test_an_entry_without_a_key_is_still_read() -> None:
    result = parse_import("@misc{eprint = {2401.00001}}\n@misc{title = {No id}}")
    assert result.items == [ImportItem("2401.00001", 1)]
    assert result.problems == ["The @misc entry at line 2 has no arXiv id or DOI; skipped."]


def test_bibtex_with_no_entries_says_so() -> None:
    assert parse_import("@comment{nothing here}").problems == ["The BibTeX text holds no entries."]


def test_an_email_address_does_not_make_a_list_bibtex() -> None:
    assert refs("me@example.org 2401.00001") == ["2401.00001"]


# -- BibTeX out --------------------------------------------------------------------------------


def test_an_arxiv_paper_is_a_misc_entry_like_arxivs_own_export() -> None:
    assert format_bibtex([arxiv_paper(doi="10.48550/arXiv.2410.17243")]) == (
        "@misc{vaswani2024attention,\n"
        "  title = {{Attention Is All You Need}},\n"
        "  author = {Ashish Vaswani and Noam Shazeer},\n"
        "  year = {2024},\n"
        "  eprint = {2410.17243},\n"
        "  archivePrefix = {arXiv},\n"
        "  primaryClass = {cs.CL},\n"
        "  doi = {10.48550/arXiv.2410.17243},\n"
        "  url = {https://arxiv.org/abs/2410.17243},\n"
        "  abstract = {We propose the Transformer, with $\\alpha$-scaled attention.}\n"
        "}\n"
    )


def test_a_published_paper_is_an_article_and_a_bare_one_a_misc() -> None:
    published = Paper(id="10.1145/1", title="Stochastic Parrots", doi="10.1145/1")
    bare = Paper(id="h123", title="Notes")
    assert format_bibtex([published, bare]) == (
        "@article{stochastic,\n"
        "  title = {{Stochastic Parrots}},\n"
        "  doi = {10.1145/1},\n"
        "  url = {https://doi.org/10.1145/1}\n"
        "}\n"
        "\n"
        "@misc{notes,\n"
        "  title = {{Notes}}\n"
        "}\n"
    )


def test_keys_are_folded_and_unique_within_one_export() -> None:
    day = datetime(2024, 1, 1, tzinfo=UTC)
    papers = [
        Paper(id="a", title="The Über-Model", authors=("Jürgen Schmidhuber",), published=day),
        Paper(id="b", title="Über alles", authors=("J. Schmidhuber",), published=day),
        Paper(id="c", title="Übermodel", authors=("Schmidhuber, Jürgen",), published=day),
        Paper(id="d", title="uber", authors=("X Schmidhuber",), published=day),
        Paper(id="e", title="$\\alpha$-Nets", authors=("Martin Luther King Jr.",)),
        Paper(id="f", title="", authors=()),
        Paper(id="g", title="", authors=()),
    ]
    keys = [
        line.split("{")[1].rstrip(",")
        for line in format_bibtex(papers).splitlines()
        if line.startswith("@")
    ]
    assert keys == [
        "schmidhuber2024ubermodel",
        "schmidhuber2024uber",
        "schmidhuber2024ubermodela",
        "schmidhuber2024ubera",
        "kingnets",
        "paper",
        "papera",
    ]


def test_a_key_suffix_never_collides_with_another_base_key() -> None:
    papers = [Paper(id=str(n), title=title) for n, title in enumerate(["Deep", "Deep", "Deepa"])]
    keys = [line for line in format_bibtex(papers).splitlines() if line.startswith("@")]
    assert keys == ["@misc{deep,", "@misc{deepa,", "@misc{deepaa,"]


def test_hostile_titles_are_neutralised() -> None:
    cases = {
        "Unbalanced } brace": "Unbalanced \\textbraceright{} brace",
        "Open { never closed": "Open \\textbraceleft{} never closed",
        "}{ backwards": "\\textbraceright{}\\textbraceleft{} backwards",
        "100% & #1 in snake_case": "100\\% \\& \\#1 in snake\\_case",
        "$x_i^2$ and x^2": "$x_i^2$ and x\\^{}2",
        "Costs $5": "Costs \\$5",
        "Math $\\{x\\}$ and \\emph{kept}": "Math $\\{x\\}$ and \\emph{kept}",
        "Odd $\\{x$ in math": "Odd $\\lbrace{}x$ in math",
        "Ends in a backslash \\": "Ends in a backslash \\textbackslash{}",
        "Escaped \\} brace": "Escaped \\textbraceright{} brace",
        "Mixed \\{ } pair": "Mixed \\textbraceleft{} \\textbraceright{} pair",
        "Line\\\\break and\nnewline": "Line break and newline",
        "Control\x00\x07chars": "Control chars",
        "Ünïcödé — stays 数学": "Ünïcödé — stays 数学",
    }
    papers = [arxiv_paper(f"2401.{n:05d}", title=t) for n, t in enumerate(cases, start=1)]
    out = format_bibtex(papers)
    assert bib_titles(out) == list(cases.values())
    assert [e["title"][1:-1] for e in parse_bibtex(out)] == list(cases.values())
    assert refs(out) == [p.id for p in papers]


def test_a_value_that_looks_like_an_entry_stays_inside_its_field() -> None:
    paper = arxiv_paper(
        title="@misc{evil, eprint = {9999.99999}}",
        abstract="first line\n@article{evil2,\n  eprint = {2401.99999}\n}",
        authors=("@inproceedings{x,",),
    )
    out = format_bibtex([paper])
    library = bibtexparser.parse_string(out)
    assert library.failed_blocks == []
    (entry,) = library.entries
    assert set(entry.fields_dict) >= {"title", "abstract", "url", "eprint"}
    assert entry.fields_dict["eprint"].value == "2410.17243"
    assert refs(out) == ["2410.17243"]


def test_unsafe_urls_and_dois_are_percent_encoded() -> None:
    paper = Paper(id="x", title="T", doi="10.1000/a{b}\\c d", url="https://e.org/a b}")
    (entry,) = parse_bibtex(format_bibtex([paper]))
    assert entry["doi"] == "10.1000/a%7Bb%7D%5Cc%20d"
    assert entry["url"] == "https://e.org/a%20b%7D"


def test_an_author_named_with_and_stays_one_author() -> None:
    out = format_bibtex([arxiv_paper(authors=("Smith and Wesson", "Ada Lovelace", "  ", ""))])
    (entry,) = bibtexparser.parse_string(out).entries
    assert entry.fields_dict["author"].value == "{Smith and Wesson} and Ada Lovelace"


def test_no_papers_is_an_empty_export() -> None:
    assert format_bibtex([]) == ""


# -- round trips -------------------------------------------------------------------------------

REALISTIC = [
    arxiv_paper("2410.17243"),
    arxiv_paper("hep-th/9901001", title="Large $N$ Limit of {S}uperconformal Field Theories"),
    arxiv_paper("2401.00001v3", title='Schr\\"odinger Bridges for $\\mathcal{O}(n)$ Sampling'),
    arxiv_paper("2401.00002", title="Attention Is All You Need", authors=("Ashish Vaswani",)),
    Paper(id="10.1145/3442188.3445922", title="On the Dangers", doi="10.1145/3442188.3445922"),
]


def test_our_export_imports_back_to_the_same_refs() -> None:
    assert refs(format_bibtex(REALISTIC)) == [
        "2410.17243",
        "hep-th/9901001",
        "2401.00001",
        "2401.00002",
        "10.1145/3442188.3445922",
    ]


def test_bibtexparser_reads_our_export_whole() -> None:
    out = format_bibtex(REALISTIC)
    library = bibtexparser.parse_string(out)
    assert library.failed_blocks == []
    assert len(library.entries) == len(REALISTIC)
    assert bib_titles(out) == [p.title for p in REALISTIC]
    assert len({e.key for e in library.entries}) == len(REALISTIC)  # a repeated key is unique


def test_a_paper_without_arxiv_id_or_doi_exports_but_cannot_import() -> None:
    result = parse_import(format_bibtex([Paper(id="h1", title="Lost")]))
    assert result == ImportResult([], ["Entry 'lost' (line 1) has no arXiv id or DOI; skipped."])


# -- properties --------------------------------------------------------------------------------

BIBTEX_ALPHABET = st.sampled_from([*'@{}()",=#%\\ \n\tabcxyz0123456789.:/-v', "@misc{", "eprint"])


@PROPERTY
@given(st.text())
def test_parse_import_never_raises_on_any_text(text: str) -> None:
    result = parse_import(text)
    assert len(result.items) <= MAX_IMPORT_ITEMS
    assert len({item.ref for item in result.items}) == len(result.items)


@PROPERTY
@given(st.lists(BIBTEX_ALPHABET, max_size=200).map("".join))
def test_parse_import_never_raises_on_bibtex_like_text(text: str) -> None:
    result = parse_import(text)
    assert all(item.line >= 1 for item in result.items)
    assert all(isinstance(p, str) and p for p in result.problems)
    parse_bibtex(text)


papers_strategy = st.lists(
    st.builds(
        lambda n, title, authors, abstract: arxiv_paper(
            f"2401.{n:05d}", title=title, authors=tuple(authors), abstract=abstract
        ),
        st.integers(min_value=1, max_value=99999),
        st.text(),
        st.lists(st.text(), max_size=3),
        st.text(),
    ),
    max_size=4,
)


@PROPERTY
@given(papers_strategy)
def test_any_export_parses_whole_with_bibtexparser(papers: list[Paper]) -> None:
    out = format_bibtex(papers)
    library = bibtexparser.parse_string(out)
    assert library.failed_blocks == []
    assert len(library.entries) == len(papers)
    assert all(
        e.fields_dict["eprint"].value == p.arxiv_id
        for e, p in zip(library.entries, papers, strict=True)
    )


@PROPERTY
@given(papers_strategy)
def test_any_export_imports_back_to_its_ids(papers: list[Paper]) -> None:
    out = format_bibtex(papers)
    assert refs(out) == list(dict.fromkeys(p.id for p in papers))
    assert parse_import(out).problems == []
    assert len(parse_bibtex(out)) == len(papers)


def test_only_web_addresses_become_the_url_field() -> None:
    odd = Paper(id="x", arxiv_id="2401.00002", title="T", url="javascript:alert(1)")
    assert "url = {https://arxiv.org/abs/2401.00002}" in format_bibtex([odd])
    none = Paper(id="y", title="T", url="data:text/html,hi")
    assert "url =" not in format_bibtex([none])
