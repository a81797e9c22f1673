"""Paper text to safe HTML: LaTeX math rendered as MathML on the server, a few text commands
(`\\emph`, `\\textbf`, `\\href`, ...) as their text, query terms highlighted.

Nothing from a paper reaches the page unescaped. Math goes through latex2mathml, whose output
is *not* trusted (it copies `\\href` targets into attributes and `\\text{...}` verbatim): it is
parsed as XML and written out again keeping only MathML presentation elements and a short list
of harmless attributes, every text escaped. Anything that does not parse, or a `$` without its
partner, is shown as the source text. Browsers render MathML Core natively; no script, no CDN.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from functools import lru_cache

from markupsafe import Markup, escape

MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ELEMENTS = _words(
    "math mrow mi mn mo ms mtext mspace msub msup msubsup munder mover munderover mfrac "
    "msqrt mroot mstyle merror mpadded mphantom mfenced menclose mtable mtr mtd mlabeledtr "
    "maligngroup malignmark mmultiscripts mprescripts none semantics annotation"
)
ATTRIBUTES = _words(
    "mathvariant stretchy fence separator separators lspace rspace display displaystyle "
    "scriptlevel accent accentunder columnalign rowalign columnspacing rowspacing columnlines "
    "rowlines frame minsize maxsize movablelimits symmetric largeop form linethickness width "
    "height depth notation open close align"
)
_SAFE_VALUE = re.compile(r"^[\w .,#%+-]{0,40}$")
MAX_FORMULA = 500

# Math: $$...$$, $...$, \(...\), \[...\]; an escaped \$ is a dollar sign. As in pandoc, an
# inline formula starts with no space after its `$` and ends with none before its `$` and no
# digit after it, so "between $5 and $10" stays text.
_MATH = re.compile(
    r"(?<!\\)\$\$(?P<dd>.+?)(?<!\\)\$\$"
    r"|(?<![\\$])\$(?=\S)(?P<d>[^$]+?)(?<=\S)(?<!\\)\$(?!\d)"
    r"|\\\((?P<p>.+?)\\\)"
    r"|\\\[(?P<b>.+?)\\\]",
    re.S,
)
# Text-mode commands whose argument is shown (formatted or not); \href keeps only its text.
_TEXT_CMD = re.compile(
    r"\\(?P<cmd>emph|textit|textbf|texttt|textsc|textrm|text|underline|url)\{(?P<arg>[^{}]*)\}"
    r"|\\href\{[^{}]*\}\{(?P<href>[^{}]*)\}"
)
_STYLE = {"emph": "em", "textit": "em", "textbf": "strong", "texttt": "code"}


Highlight = Callable[[str], Iterable[tuple[str, bool]]]


def render(text: str, highlight: Highlight | None = None) -> Markup:
    """`text` as safe HTML. `highlight(piece)` cuts plain text into (piece, is_match)."""
    out: list[str] = []
    last = 0
    for m in _MATH.finditer(text):
        out.append(_plain(text[last : m.start()], highlight))
        formula = m.group("dd") or m.group("d") or m.group("p") or m.group("b") or ""
        display = m.group("dd") is not None or m.group("b") is not None
        out.append(_math(formula, display) or str(escape(m.group(0))))
        last = m.end()
    out.append(_plain(text[last:], highlight))
    return Markup("".join(out))


def _plain(text: str, highlight: Highlight | None) -> str:
    out: list[str] = []
    last = 0
    for m in _TEXT_CMD.finditer(text):
        out.append(_marked(text[last : m.start()], highlight))
        if m.group("href") is not None:
            out.append(_marked(m.group("href"), highlight))
        else:
            tag = _STYLE.get(m.group("cmd"))
            inner = _marked(m.group("arg"), highlight)
            out.append(f"<{tag}>{inner}</{tag}>" if tag else inner)
        last = m.end()
    out.append(_marked(text[last:], highlight))
    return "".join(out)


def _marked(text: str, highlight: Highlight | None) -> str:
    if not text:
        return ""
    text = text.replace("\\$", "$")
    if highlight is None:
        return str(escape(text))
    return "".join(
        f"<mark>{escape(piece)}</mark>" if hit else str(escape(piece))
        for piece, hit in highlight(text)
    )


@lru_cache(maxsize=4096)
def _math(formula: str, display: bool) -> str | None:
    """MathML for one formula, or None when it cannot be rendered safely."""
    if not formula.strip() or len(formula) > MAX_FORMULA:
        return None
    from latex2mathml.converter import convert  # imported on first use: ~50 ms

    try:
        produced = convert(formula, display="block" if display else "inline")
        root = ET.fromstring(produced)
    except Exception:  # latex2mathml raises many kinds for bad LaTeX; all mean "show source"
        return None
    parts: list[str] = []
    if not _write(root, parts):
        return None
    return "".join(parts)


def _write(node: ET.Element, out: list[str]) -> bool:
    name = node.tag.removeprefix(MATHML_NS)
    if name not in ELEMENTS:
        return False
    attrs = "".join(
        f' {key}="{escape(value)}"'
        for key, value in sorted(node.attrib.items())
        if key in ATTRIBUTES and _SAFE_VALUE.match(value)
    )
    if name == "math":
        attrs = ' xmlns="http://www.w3.org/1998/Math/MathML"' + attrs
    out.append(f"<{name}{attrs}>")
    if node.text:
        out.append(str(escape(node.text)))
    for child in node:
        if not _write(child, out):
            return False
        if child.tail:
            out.append(str(escape(child.tail)))
    out.append(f"</{name}>")
    return True
