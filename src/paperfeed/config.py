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
- PAPERFEED_BASE_URL: the address readers reach the server at, for links in mails (default:
  http://HOST:PORT of `paperfeed serve`); an https:// address makes cookies Secure
- PAPERFEED_SECRET_KEY: signs mailed links and form tokens (default: a random key made once
  and kept in the database)
- PAPERFEED_TRENDING_EVERY_S: seconds between full trending recomputes (default 600)
- PAPERFEED_SMTP_HOST, _PORT, _SECURITY, _USER, _PASSWORD, PAPERFEED_MAIL_FROM,
  PAPERFEED_OUTBOX: how mail is sent (see digest/mailer.py; without a host, mail goes to a
  local Maildir, DB + '-outbox')
- PAPERFEED_DIGEST_EVERY_S: seconds between two digest passes in `paperfeed serve` (default 60)
- PAPERFEED_MAIL_RATE: messages per second the digest sender sends at most (default 10)
- PAPERFEED_BOUNCE_LIMIT: permanent delivery failures in a row that suppress an address
  (default 2)
- PAPERFEED_TRUSTED_PROXIES: comma-separated addresses or networks (127.0.0.1, 10.0.0.0/8)
  whose X-Forwarded-For / X-Forwarded-Proto headers `paperfeed serve` believes (default none:
  the client is whoever connects)
- PAPERFEED_MAX_LINE_BYTES: the longest line `paperfeed ingest` reads (default 16 MiB); a longer
  one is skipped by number, never held in memory whole
"""

from __future__ import annotations

import ipaddress
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
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    trending_every_s: float = 600.0
    digest_every_s: float = 60.0  # how often the sender in `serve` looks for due digests
    mail_rate: float = 10.0  # messages per second at most
    bounce_limit: int = 2  # permanent failures in a row that suppress an address
    trusted_proxies: tuple[str, ...] = ()  # addresses and networks whose X-Forwarded-* count
    max_line_bytes: int = 16 * 2**20  # the longest line ingest reads

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
        base_url=_url(env.get("PAPERFEED_BASE_URL")) or _DEFAULTS.base_url,
        secret_key=env.get("PAPERFEED_SECRET_KEY", ""),
        trending_every_s=_seconds(
            env.get("PAPERFEED_TRENDING_EVERY_S"), "PAPERFEED_TRENDING_EVERY_S"
        )
        or _DEFAULTS.trending_every_s,
        digest_every_s=_seconds(env.get("PAPERFEED_DIGEST_EVERY_S"), "PAPERFEED_DIGEST_EVERY_S")
        or _DEFAULTS.digest_every_s,
        mail_rate=_seconds(env.get("PAPERFEED_MAIL_RATE"), "PAPERFEED_MAIL_RATE", "a number")
        or _DEFAULTS.mail_rate,
        bounce_limit=int(
            _seconds(env.get("PAPERFEED_BOUNCE_LIMIT"), "PAPERFEED_BOUNCE_LIMIT", "a number")
            or _DEFAULTS.bounce_limit
        ),
        trusted_proxies=parse_proxies(env.get("PAPERFEED_TRUSTED_PROXIES", "")),
        max_line_bytes=_bytes(env.get("PAPERFEED_MAX_LINE_BYTES"), "PAPERFEED_MAX_LINE_BYTES")
        or _DEFAULTS.max_line_bytes,
    )


def parse_proxies(text: str, name: str = "PAPERFEED_TRUSTED_PROXIES") -> tuple[str, ...]:
    """'127.0.0.1, 10.0.0.0/8' as normalised addresses and networks; an empty text is none."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:  # uvicorn compares addresses and strict networks: give it those
            net = ipaddress.ip_network(item, strict=False)
            found.append(str(net.network_address if "/" not in item else net))
        except ValueError:
            raise InputError(f"{name} holds {item!r}, which is not an IP address or a network "
                             "like 10.0.0.0/8.") from None  # fmt: skip
    return tuple(found)


def _seconds(text: str | None, name: str = "PAPERFEED_FETCH_INTERVAL_S",
             what: str = "a number of seconds") -> float | None:  # fmt: skip
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name}={text!r} is not {what}.") from None
    if value < 0:
        raise InputError(f"{name} cannot be negative.")
    return value


def _bytes(text: str | None, name: str) -> int | None:
    if not text:
        return None
    if not text.strip().isdigit() or int(text) == 0:
        raise InputError(f"{name}={text!r} is not a whole number of bytes, such as 16777216.")
    return int(text)


def _url(text: str | None) -> str | None:
    if not text:
        return None
    if not text.startswith(("http://", "https://")):
        raise InputError(f"PAPERFEED_BASE_URL={text!r} must start with http:// or https://.")
    return text.rstrip("/")
