"""Settings, read once from PAPERFEED_* environment variables (the CLI's flags win).

- PAPERFEED_DB: the SQLite database file (default ./paperfeed.db)
- PAPERFEED_INDEX_DIR: where search indexes live (default: beside the database, DB + '-index')
- PAPERFEED_MODEL: embedding model: empty for the bundled all-MiniLM-L6-v2 (int8 ONNX), or a
  folder with model.onnx + tokenizer.json
- PAPERFEED_EMBED_DEVICE: cpu (default) or cuda (needs onnxruntime-gpu)
- PAPERFEED_ARXIV_OAI_URL, PAPERFEED_ARXIV_API_URL, PAPERFEED_ARXIV_RSS_URL, PAPERFEED_HF_URL:
  where the sources live (defaults: arXiv's and Hugging Face's public endpoints)
- PAPERFEED_FETCH_INTERVAL_S: seconds between two requests to one host (default 3 for arXiv,
  1 for others; arXiv hosts never go below 3, whatever this says)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from paperfeed.errors import InputError


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = "paperfeed.db"
    index_dir: str = ""
    model: str = ""
    embed_device: str = "cpu"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_rss_url: str = "https://rss.arxiv.org"
    hf_url: str = "https://huggingface.co"
    fetch_interval_s: float | None = None

    @property
    def resolved_index_dir(self) -> str:
        return self.index_dir or self.db + "-index"


_DEFAULTS = Settings()


def load_settings(env: Mapping[str, str] | None = None, *, db: str | None = None) -> Settings:
    env = os.environ if env is None else env
    return Settings(
        db=db or env.get("PAPERFEED_DB") or "paperfeed.db",
        index_dir=env.get("PAPERFEED_INDEX_DIR", ""),
        model=env.get("PAPERFEED_MODEL", ""),
        embed_device=env.get("PAPERFEED_EMBED_DEVICE", "cpu"),
        arxiv_oai_url=env.get("PAPERFEED_ARXIV_OAI_URL") or _DEFAULTS.arxiv_oai_url,
        arxiv_api_url=env.get("PAPERFEED_ARXIV_API_URL") or _DEFAULTS.arxiv_api_url,
        arxiv_rss_url=env.get("PAPERFEED_ARXIV_RSS_URL") or _DEFAULTS.arxiv_rss_url,
        hf_url=env.get("PAPERFEED_HF_URL") or _DEFAULTS.hf_url,
        fetch_interval_s=_seconds(env.get("PAPERFEED_FETCH_INTERVAL_S")),
    )


def _seconds(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"PAPERFEED_FETCH_INTERVAL_S={text!r} is not a number of seconds."
        ) from None
    if value < 0:
        raise InputError("PAPERFEED_FETCH_INTERVAL_S cannot be negative.")
    return value
