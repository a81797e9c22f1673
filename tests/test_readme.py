"""The README's example commands run as written on the demo's database.

Only the read-only ones (search, show, related, trending): the others name files of the
reader's own or reach the network, and the README says they are examples for real use.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from paperfeed.cli import main
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
READ_ONLY = ("search", "show", "related", "trending")


def readme_examples() -> list[list[str]]:
    """The arguments of every `paperfeed search|show|related|trending ...` line of the
    README's sh blocks, comments dropped."""
    examples = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["paperfeed"] and len(words) > 1 and words[1] in READ_ONLY:
                examples.append(words[1:])
    return examples


def test_the_readme_shows_each_read_only_command() -> None:
    assert {argv[0] for argv in readme_examples()} == set(READ_ONLY)


@pytest.mark.parametrize("argv", readme_examples(), ids=shlex.join)
def test_a_readme_example_runs_on_the_demo(
    argv: list[str], demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--db", str(demo_db), *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() not in ("", "[]"), err


def test_the_readme_does_not_call_the_working_subscribe_box_disabled() -> None:
    """The home page's box subscribes (tests/web/test_digest_web.py shows it); the README said
    it was "shown disabled until digests exist"."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    sentences = [s for s in re.split(r"(?<=\.) ", text) if "subscribe box" in s]
    assert sentences and not [s for s in sentences if "disabled" in s], sentences
