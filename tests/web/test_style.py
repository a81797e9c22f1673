"""The stylesheet's colours, light and dark (prefers-color-scheme): every pair that text is
drawn in passes WCAG 2.x AA (4.5:1 for normal text), computed from the CSS variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).parents[2] / "src" / "paperfeed" / "web" / "static" / "style.css"
DARK = "@media (prefers-color-scheme: dark)"
AA = 4.5
# (text, background): where each text colour is drawn (body, cards, panels, code, marks,
# buttons, links, counts, chips)
PAIRS = [
    ("fg", "bg"), ("fg", "panel"), ("fg", "code-bg"), ("fg", "mark"),
    ("muted", "bg"), ("muted", "panel"), ("muted", "code-bg"),
    ("accent", "bg"), ("accent", "panel"), ("on-accent", "accent"),
    ("link", "bg"), ("link", "panel"), ("ok", "bg"),
]  # fmt: skip


def variables(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})\s*;", block))


def schemes() -> dict[str, dict[str, str]]:
    css = CSS.read_text()
    light = css[css.index(":root {") : css.index("}", css.index(":root {"))]
    dark_at = css.index(DARK)
    dark = css[dark_at : css.index("}", css.index(":root {", dark_at))]
    return {"light": variables(light), "dark": {**variables(light), **variables(dark)}}


def luminance(colour: str) -> float:
    hexes = colour.lstrip("#")
    if len(hexes) == 3:
        hexes = "".join(c * 2 for c in hexes)
    channels = [int(hexes[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # just under AA


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_colour_pair_passes_aa(scheme: str) -> None:
    colours = schemes()[scheme]
    failing = {f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2)
               for fg, bg in PAIRS if contrast(colours[fg], colours[bg]) < AA}  # fmt: skip
    assert not failing, f"{scheme}: below {AA}:1: {failing}"


def test_dark_mode_sets_every_colour_and_nothing_is_hard_coded() -> None:
    found = schemes()
    assert set(found["dark"]) == set(variables(CSS.read_text().split(DARK)[1]))
    outside = re.sub(r":root\s*\{[^}]*\}", "", CSS.read_text())
    assert re.findall(r"#[0-9a-fA-F]{3,6}\b", outside) == []  # every colour is a variable
