"""Rebuild the demo's bundled data in src/paperfeed/data/demo/ (see its PROVENANCE.md).

    .venv/bin/python scripts/demo_data.py [--shared ../shared/data]

1. With --shared (the project's shared data folder), copy the recorded files again: the arXiv
   API records verbatim, and the Hugging Face day without the names of the people who
   submitted the papers or the Hugging Face accounts of the authors (their names stay).
2. Always: import every bundled file into a throwaway database with `paperfeed ingest`, embed
   it with the real model (`paperfeed embed`) and write `vectors.npz` with `paperfeed
   embeddings export`, so `paperfeed demo` can import them instead of embedding (~40 s).
   tests/test_demo_data.py fails when the vectors no longer match the papers or the model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from paperfeed.cli import demo_dir, demo_files, main

ARXIV_API = Path("fixtures/arxiv_metadata/api_recent_500_2026/arxiv_papers.json")
HF_DAY = Path("fixtures/hf_daily_papers/daily_papers_2024-10-25_first4.json")


def copy_recorded(shared: Path) -> None:
    arxiv_out, hf_out = demo_files()[1:]
    shutil.copyfile(shared / ARXIV_API, arxiv_out)
    day = json.loads((shared / HF_DAY).read_bytes())
    for entry in day:
        entry.pop("submittedBy", None)  # who submitted it to the daily list: not needed
        for author in entry["paper"]["authors"]:
            author.pop("user", None)  # the author's Hugging Face account and avatar
    text = json.dumps(day, separators=(",", ":"), ensure_ascii=False)
    hf_out.write_text(text + "\n", encoding="utf-8")


def compute_vectors(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "vectors.db")
        for argv in (["ingest", *map(str, demo_files())], ["embed"],
                     ["embeddings", "export", str(out)]):  # fmt: skip
            if main(["--db", db, *argv]) != 0:
                sys.exit(f"paperfeed {argv[0]} failed")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--shared", type=Path, help="copy the recorded files from this folder")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.shared:
        copy_recorded(args.shared)
    compute_vectors(demo_dir() / "vectors.npz")
