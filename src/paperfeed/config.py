"""Settings, read once from PAPERFEED_* environment variables (the CLI's flags win).

- PAPERFEED_DB: the SQLite database file (default ./paperfeed.db)
- PAPERFEED_INDEX_DIR: where search indexes live (default: beside the database, DB + '-index')
- PAPERFEED_MODEL: embedding model: empty for the bundled all-MiniLM-L6-v2 (int8 ONNX), or a
  folder with model.onnx + tokenizer.json
- PAPERFEED_EMBED_DEVICE: cpu (default) or cuda (needs onnxruntime-gpu)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = "paperfeed.db"
    index_dir: str = ""
    model: str = ""
    embed_device: str = "cpu"

    @property
    def resolved_index_dir(self) -> str:
        return self.index_dir or self.db + "-index"


def load_settings(env: Mapping[str, str] | None = None, *, db: str | None = None) -> Settings:
    env = os.environ if env is None else env
    return Settings(
        db=db or env.get("PAPERFEED_DB") or "paperfeed.db",
        index_dir=env.get("PAPERFEED_INDEX_DIR", ""),
        model=env.get("PAPERFEED_MODEL", ""),
        embed_device=env.get("PAPERFEED_EMBED_DEVICE", "cpu"),
    )
