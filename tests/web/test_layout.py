"""The web package's shape, read from its source: one table of routes (routes.py), `Site` in a
module that imports no route module back, one rule for JSON. (The routes' behaviour is what
the other tests of tests/web check; this keeps the layout from drifting back.)"""

from __future__ import annotations

import ast
from pathlib import Path

from starlette.routing import Mount, Route

import paperfeed.web
from paperfeed.web.routes import ROUTES

WEB = Path(paperfeed.web.__file__).parent
MODULES = {path.stem: ast.parse(path.read_text()) for path in WEB.glob("*.py")}


def web_imports(tree: ast.Module) -> set[str]:
    """The modules of paperfeed.web a module imports (at run time or for type checking)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "paperfeed.web":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("paperfeed.web."):
            found.add(str(node.module).removeprefix("paperfeed.web."))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("paperfeed.web.") for a in node.names
                      if a.name.startswith("paperfeed.web.")}  # fmt: skip
    return found


def reached_from(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for found in web_imports(MODULES[todo.pop()]) - seen:
            seen.add(found)
            todo.append(found)
    return seen


def test_site_imports_nothing_that_imports_it_back() -> None:
    assert "site" not in reached_from("site")
    assert reached_from("site") <= {"clean", "guard", "observe", "views", "mathtext"}


def test_no_import_circle_in_the_web_package() -> None:
    circles = {name for name in MODULES if name in reached_from(name)}
    assert circles == set()


def test_nothing_in_the_package_imports_the_app() -> None:
    assert {name for name, tree in MODULES.items() if "app" in web_imports(tree)} == set()


def test_routes_are_made_in_the_table_only() -> None:
    """Route(...) is written in routes.py, and in handlers.py where `twin` makes a page's
    routes (its JSON twin and feeds) for one line of the table."""
    makers = {
        name
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("Route", "Mount", "WebSocketRoute")
    }
    assert makers == {"routes", "handlers"}


def test_one_rule_for_json() -> None:
    defined = [
        name
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and "json" in node.name and "want" in node.name
    ]
    assert defined == ["site"]


def test_every_route_answers_either_reads_or_changes() -> None:
    """Every route of the table names its methods, and none answers both GET and POST: a page
    and its form's state change are two lines, so a GET can never reach a state change."""
    for route in ROUTES:
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route), route
        assert route.methods, route.path
        assert not {"GET", "POST"} <= route.methods, route.path
