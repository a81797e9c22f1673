#!/usr/bin/env bash
# `make test`'s pytest run, from a copy of the repository as a clone would have it: the files git
# tracks plus new ones it does not ignore, copied into a fresh temporary folder with nothing
# beside it (no ../shared), so a test that reads anything outside the repository fails here too.
# The copy's src/ goes first on PYTHONPATH (ahead of the .venv's editable install), and every
# `python -m paperfeed` the tests start inherits it, so the copy's code is what runs.
# Arguments go to pytest: scripts/test.sh -k dropout tests/ingest (or make test PYTEST_ARGS=...).
# Screenshots the tests take (artifacts/) are copied back; the copy is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-.venv/bin/python}
[[ $python == /* ]] || python=$repo/$python # kept as given: a venv's python is a symlink

tmp=$(mktemp -d "${TMPDIR:-/tmp}/paperfeed-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
copy=$tmp/paperfeed
mkdir "$copy"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' file; do # deleted but not yet committed: not in a clone either
    if [[ -e $file || -L $file ]]; then printf '%s\0' "$file"; fi
  done |
  tar --null --files-from=- -cf - | tar -xf - -C "$copy"

cd "$copy"
status=0
PYTHONPATH="$copy/src${PYTHONPATH:+:$PYTHONPATH}" "$python" -m pytest "$@" || status=$?
if [[ -d artifacts ]]; then
  mkdir -p "$repo/artifacts" && cp -R artifacts/. "$repo/artifacts/"
fi
exit "$status"
