"""The suite tests this checkout with its own data: the code under test is this repository's
src/ (in pytest and in the processes it starts), and tests/data says where each file came from
and leaves out what must stay out (Hugging Face submitter and user names)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paperfeed
from tests.conftest import DATA, HF_DAILY, REPO_ROOT, SEED

PEOPLE_KEYS = {"submittedBy", "submittedOnDailyBy", "user"}


def test_the_code_under_test_is_this_checkouts_src() -> None:
    src = REPO_ROOT / "src"
    assert Path(paperfeed.__file__).is_relative_to(src), (
        f"paperfeed is imported from {paperfeed.__file__}, not {src}: put {src} first on "
        "PYTHONPATH (make test does)"
    )
    child = subprocess.run(
        [sys.executable, "-c", "import paperfeed; print(paperfeed.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(child.stdout.strip()).is_relative_to(src)


def test_the_seed_papers_are_the_packages_own() -> None:
    packaged = Path(paperfeed.__file__).parent / "data" / "seed_papers.jsonl"
    assert packaged == SEED and SEED.is_file()


def test_every_data_folder_says_where_its_files_came_from() -> None:
    files = [p for p in DATA.rglob("*/*") if p.is_file() and p.name != "PROVENANCE.md"]
    assert len(files) > 60
    for path in files:
        folders = path.relative_to(DATA).parents[:-1]  # its folders below tests/data
        assert any((DATA / f / "PROVENANCE.md").is_file() for f in folders), path


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        yield from value
        for v in value.values():
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def test_hugging_face_fixtures_hold_no_submitter_or_user_names() -> None:
    paths = sorted(HF_DAILY.glob("*.json"))
    assert len(paths) == 2
    for path in paths:
        assert not PEOPLE_KEYS & set(_keys(json.loads(path.read_bytes()))), path
