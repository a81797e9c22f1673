"""find_code_links: repository URLs in abstracts and comments, normalized and deduplicated."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.ingest.codelinks import find_code_links, is_normalized_code_link

NORMALIZED = re.compile(
    r"^https://(github\.com|gitlab\.com|codeberg\.org|bitbucket\.org)/[\w.-]+/[\w.-]+$"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Code: https://github.com/foo/bar.", ["https://github.com/foo/bar"]),
        ("(see https://github.com/foo/bar)", ["https://github.com/foo/bar"]),
        ("https://github.com/foo/bar.git, and more", ["https://github.com/foo/bar"]),
        ("http://www.GitHub.com/Foo/Bar/tree/main/src", ["https://github.com/Foo/Bar"]),
        ("github.com/foo/bar/blob/main/README.md#x", ["https://github.com/foo/bar"]),
        ("\\url{https://gitlab.com/grp/proj/-/tree/dev}", ["https://gitlab.com/grp/proj"]),
        ("at codeberg.org/a/b_ and bitbucket.org/c/d;", [
            "https://codeberg.org/a/b_", "https://bitbucket.org/c/d"]),
        ("https://foo.github.io/bar/baz", []),
        ("https://gist.github.com/someone/abc123", []),
        ("by https://github.com/someone only", []),
        ("https://github.com/someone/", []),
        ("https://github.com/orgs/acme/repositories", []),
        ("https://github.com/topics/llm and https://github.com/features/actions", []),
        ("mail git@github.com:foo/bar.git", []),
        ("https://notgithub.com/foo/bar", []),
    ],
)  # fmt: skip
def test_examples(text: str, expected: list[str]) -> None:
    assert find_code_links(text) == expected


def test_dedupes_in_order_across_texts_ignoring_case() -> None:
    abstract = "We release https://github.com/Org/Tool and data at https://gitlab.com/o/data."
    comments = "Code: github.com/org/tool/ ; mirror https://codeberg.org/o/tool"
    assert find_code_links(abstract, comments) == [
        "https://github.com/Org/Tool",
        "https://gitlab.com/o/data",
        "https://codeberg.org/o/tool",
    ]


def test_empty_inputs() -> None:
    assert find_code_links() == []
    assert find_code_links("", "no links here") == []


url_parts = st.text(alphabet="abcXYZ019._-/:?#)(.,", max_size=12)
texts = st.lists(
    st.text(max_size=40)
    | st.builds(
        lambda h, a, b: f"https://{h}/{a}/{b}",
        st.sampled_from(["github.com", "GITLAB.com", "gist.github.com", "x.github.io"]),
        url_parts,
        url_parts,
    ),
    max_size=4,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.text(max_size=60))
def test_returns_only_normalized_unique_urls(a: str, b: str) -> None:
    links = find_code_links(a, b)
    assert all(NORMALIZED.match(u) and is_normalized_code_link(u) for u in links)
    assert not any(u.endswith((".git", ".")) for u in links)
    assert len({u.lower() for u in links}) == len(links)
