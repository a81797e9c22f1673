"""requirements.lock (what scripts/setup.sh installs, hash-checked) still fits pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def _locked() -> dict[str, tuple[str, int]]:
    """Each locked package: (version, how many hashes)."""
    found: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        if pinned := PIN.match(line):
            name = canonicalize_name(pinned.group(1))
            found[name] = (pinned.group(2), 0)
        elif line.strip().startswith("--hash=sha256:"):
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
    return found


def test_every_requirement_is_locked_at_a_version_it_allows_with_hashes() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locked = _locked()
    for text in wanted:
        req = Requirement(text)
        version, _ = locked.get(canonicalize_name(req.name), ("", 0))
        assert version, f"{req.name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {req.name}=={version}, outside {req.specifier}: run `make lock`"
        )
    assert all(hashes for _, hashes in locked.values())
