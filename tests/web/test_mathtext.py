"""Math and markup from paper text: rendered where it can be, inert always."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.web.mathtext import ATTRIBUTES, ELEMENTS, render

TEXT_TAGS = {"mark", "em", "strong", "code"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def assert_inert(html: str) -> None:
    for tag, attrs in tags_of(html):
        assert tag in ELEMENTS | TEXT_TAGS, tag
        for name, value in attrs:
            assert name in ATTRIBUTES | {"xmlns"}, name
            assert value is None or ("javascript" not in value and "<" not in value)


def test_math_becomes_mathml() -> None:
    html = render(r"costs $\mathcal{O}(n^2)$ and $$\sum_i x_i$$ or \(a+b\)")
    assert html.count("<math") == 3 and 'display="block"' in html
    assert "<msup><mi>n</mi><mn>2</mn></msup>" in html
    assert_inert(html)


def test_text_commands_and_dollars() -> None:
    html = render(r"\emph{really} \textbf{bold}, \$5 and between $5 and $10")
    assert html == "<em>really</em> <strong>bold</strong>, $5 and between $5 and $10"


def test_hostile_latex_and_markup_are_text() -> None:
    html = render(
        r"\href{javascript:alert(1)}{click} $\href{javascript:alert(2)}{y}$ "
        r"$\text{<img src=x onerror=alert(3)>}$ <script>alert(4)</script> x<y & z>w $unbalanced"
    )
    assert "javascript" not in html and "<img" not in html and "<script" not in html
    assert "click" in html and "&lt;script&gt;alert(4)&lt;/script&gt;" in html
    assert "x&lt;y &amp; z&gt;w $unbalanced" in html
    assert_inert(html)


def test_highlight_marks_plain_text_only() -> None:
    html = render(r"dropout in $d_{rop}$ and Dropout", lambda t: iter([(t, False)]))
    assert "<mark>" not in html
    marked = render("Dropout rate", lambda t: iter([(t[:7], True), (t[7:], False)]))
    assert marked == "<mark>Dropout</mark> rate"


ALPHABET = st.sampled_from([*list("ab $\\{}<>&\"'=/^_()[]"), "\\href", "\\text", "script", "\\("])


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_any_text_renders_to_allowed_markup_only(text: str) -> None:
    assert_inert(render(text))
