"""Accessibility: axe-core (the engine browsers' audits use, from the PyPI package
axe-playwright-python, which ships axe.min.js) finds no serious or critical violation on any
page, in light and dark, on a desktop and a 390 px phone, in a real headless Chromium against a
real `paperfeed serve` (the served database: seed papers, the hostile paper, the recorded
Hugging Face day)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext

from tests.web.conftest import HF_IDS
from tests.web.test_browser import PHONE, TIMEOUT_MS, visit

PAGES = (
    "/",
    "/trending?window=week",
    "/today",
    "/search?q=dropout",
    "/search?q=zqxjvw&category=math.AG",
    f"/paper/{HF_IDS[0]}",
    "/author/Ann%20Lee",
    "/category/cs.LG",
    "/signin",
    "/subscribe",
)
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": PHONE}
SERIOUS = ("serious", "critical")


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


@pytest.fixture
def context(browser: Browser, live_server: str, request: pytest.FixtureRequest
            ) -> Iterator[BrowserContext]:  # fmt: skip
    scheme, size = request.param
    phone = size == "phone"
    made = browser.new_context(base_url=live_server, viewport=SIZES[size],  # type: ignore[arg-type]
                               color_scheme=scheme, is_mobile=phone, has_touch=phone)  # fmt: skip
    made.set_default_timeout(TIMEOUT_MS)
    yield made
    made.close()


def _serious(results: Any) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("context", [(s, z) for s in ("light", "dark") for z in SIZES],
                         ids=lambda p: "-".join(p), indirect=True)  # fmt: skip
def test_no_serious_accessibility_violation_on_any_page(context: BrowserContext, axe: Axe) -> None:
    page = context.new_page()
    found = {}
    for path in PAGES:
        visit(page, path)
        if problems := _serious(axe.run(page)):
            found[path] = problems
    assert found == {}


def test_the_check_finds_what_it_should(browser: Browser, axe: Axe) -> None:
    """The same check on a page with known faults (a form field without a label, grey on
    white text): it is not blind."""
    page = browser.new_page()
    page.set_content('<html lang="en"><title>t</title><main><input type="text">'
                     '<p style="color:#bbb;background:#fff">faint</p></main></html>')  # fmt: skip
    problems = _serious(axe.run(page))
    page.close()
    assert any(p.startswith("label ") for p in problems), problems
    assert any(p.startswith("color-contrast ") for p in problems), problems
