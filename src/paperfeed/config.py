"""Settings, read once from PAPERFEED_* environment variables (the CLI's flags win).

- PAPERFEED_DB: the database: a SQLite file path, sqlite:///path or
  postgresql://user:password@host/dbname (default ./paperfeed.db)
- PAPERFEED_INDEX_DIR: where search indexes live (default: beside a SQLite file, DB + '-index';
  with PostgreSQL, ./paperfeed-index). Indexes are files of the machine that searches: with
  PostgreSQL, each node keeps its own and catches it up from the shared database
- PAPERFEED_NODE: this node's name (default: the host name). The leases a process holds carry
  it (`NODE:pid`, shown by `paperfeed status`), and a process takes over at once only from a
  dead process of its own node: give each node sharing a database its own name (two nodes on
  one machine, too), and never two machines the same one
- PAPERFEED_LEASE_S: seconds the harvest, embedder and digest-sender leases last (default: 900,
  300 and 120). Each is renewed while its work goes on, and one step (a page fetched and
  committed, a batch embedded, a message sent) must finish within it; when a node dies, another
  takes its work over once the lease runs out
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
- PAPERFEED_SMTP_HOST, _PORT, _SECURITY, _USER, _PASSWORD, PAPERFEED_MAIL_FROM: how mail is
  sent (see digest/mailer.py); without a host, mail goes to the outbox
- PAPERFEED_OUTBOX: the local Maildir mail goes to without an SMTP host (default: beside a
  SQLite file, DB + '-outbox'; with PostgreSQL, ./paperfeed-outbox: each node its own)
- PAPERFEED_DIGEST_EVERY_S: seconds between two digest passes in `paperfeed serve` (default 60)
- PAPERFEED_MAIL_RATE: messages per second the digest sender sends at most (default 10)
- PAPERFEED_BOUNCE_LIMIT: permanent delivery failures in a row that suppress an address
  (default 2)
- PAPERFEED_TRUSTED_PROXIES: comma-separated addresses or networks (127.0.0.1, 10.0.0.0/8)
  whose X-Forwarded-For / X-Forwarded-Proto headers `paperfeed serve` believes (default none:
  the client is whoever connects)
- PAPERFEED_OUTBOUND_ALLOW: comma-separated addresses or networks (127.0.0.0/8, ::1) that
  webhook channels may post to although they are not public (default none: loopback, private,
  link-local, metadata and other non-public addresses are refused); plain http:// is accepted
  only to these
- PAPERFEED_MAX_LINE_BYTES: the longest line `paperfeed ingest` reads (default 16 MiB); a longer
  one is skipped by number, never held in memory whole
- PAPERFEED_LOG_FORMAT: text (default) or json log lines
- PAPERFEED_ACCESS_LOG=1: `paperfeed serve` logs every request
- PAPERFEED_METRICS=1: `paperfeed serve` answers /metrics for Prometheus
- PAPERFEED_SEARCH_CACHE: how many query embeddings and how many rankings each server process
  keeps for repeated searches (default 4096 of each, at most ~64 MB and ~50 MB; see
  search/cache.py); 0 turns the cache off. A cached ranking is dropped when the store changes

What `paperfeed serve` decides from its flags (host, port, scheduler, log level) are settings
too: the server's worker processes get the whole `Settings` as one value, `to_json` in
PAPERFEED_SETTINGS, never piece by piece through the environment.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from paperfeed.digest.mailer import MailSettings, mail_settings_from_env
from paperfeed.errors import InputError
from paperfeed.logs import FORMATS
from paperfeed.store import sqlite_path

SETTINGS_ENV = "PAPERFEED_SETTINGS"  # `serve` -> its worker processes: Settings.to_json()
HIDDEN = "***"


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Everything a command or the server is configured with. `index_dir` and `mail.outbox`
    left empty are resolved from `db` when made (see the module docstring; replacing `db`
    later keeps them); `base_url` left empty means http://HOST:PORT of `paperfeed serve`
    (`public_url`)."""

    db: str = "paperfeed.db"  # a SQLite file path, sqlite:///path or postgresql://...
    index_dir: str = ""
    node: str = ""  # this node's name in its leases; empty: the host name
    lease_s: float | None = None  # the harvest, embedder and sender leases; None: each its own
    model: str = ""
    embed_device: str = "cpu"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_rss_url: str = "https://rss.arxiv.org"
    hf_url: str = "https://huggingface.co"
    fetch_interval_s: float | None = None
    base_url: str = ""
    secret_key: str = field(default="", repr=False)
    trending_every_s: float = 600.0
    digest_every_s: float = 60.0  # how often the sender in `serve` looks for due digests
    mail_rate: float = 10.0  # messages per second at most
    bounce_limit: int = 2  # permanent failures in a row that suppress an address
    trusted_proxies: tuple[str, ...] = ()  # addresses and networks whose X-Forwarded-* count
    max_line_bytes: int = 16 * 2**20  # the longest line ingest reads
    outbound_allow: tuple[str, ...] = ()  # non-public networks webhooks may post to anyway
    mail: MailSettings = field(default_factory=lambda: MailSettings(outbox=""))
    log_format: str = "text"
    log_level: str = "WARNING"
    # what `paperfeed serve` decides from its flags, for its worker processes
    host: str = "127.0.0.1"
    port: int = 8000
    scheduler: bool = True  # the background pipeline runs in the server
    access_log: bool = False
    metrics: bool = False
    search_cache: int = 4096  # entries of each search cache (search/cache.py); 0: off

    def __post_init__(self) -> None:
        if not self.node:
            object.__setattr__(self, "node", socket.gethostname())
        stem = sqlite_path(self.db) or "paperfeed"  # PostgreSQL: in the working directory
        if not self.index_dir:
            object.__setattr__(self, "index_dir", stem + "-index")
        if not self.mail.outbox:
            object.__setattr__(
                self, "mail", dataclasses.replace(self.mail, outbox=stem + "-outbox")
            )

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr}
        shown["db"] = redact(self.db)
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def public_url(self) -> str:
        """Where readers reach the server: links in mails, the origin forms must come from."""
        return self.base_url or f"http://{self.host}:{self.port}"

    def to_json(self) -> str:
        """Every setting, secrets included: for the server's own worker processes only."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        try:
            data: dict[str, Any] = json.loads(text)
            mail = MailSettings(**data.pop("mail"))
            proxies = tuple(data.pop("trusted_proxies"))
            allow = tuple(data.pop("outbound_allow"))
            return cls(**data, mail=mail, trusted_proxies=proxies, outbound_allow=allow)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InputError(
                f"{SETTINGS_ENV} does not hold settings this version's "
                "`paperfeed serve` wrote; start the server with it."
            ) from None


_DEFAULTS = Settings()


def load_settings(env: Mapping[str, str] | None = None, *, db: str | None = None) -> Settings:
    env = os.environ if env is None else env
    db = db or env.get("PAPERFEED_DB") or _DEFAULTS.db
    return Settings(
        db=db,
        index_dir=env.get("PAPERFEED_INDEX_DIR", ""),
        node=_node(env.get("PAPERFEED_NODE")),
        lease_s=_lease(env.get("PAPERFEED_LEASE_S")),
        model=env.get("PAPERFEED_MODEL", ""),
        embed_device=env.get("PAPERFEED_EMBED_DEVICE", "cpu"),
        arxiv_oai_url=env.get("PAPERFEED_ARXIV_OAI_URL") or _DEFAULTS.arxiv_oai_url,
        arxiv_api_url=env.get("PAPERFEED_ARXIV_API_URL") or _DEFAULTS.arxiv_api_url,
        arxiv_rss_url=env.get("PAPERFEED_ARXIV_RSS_URL") or _DEFAULTS.arxiv_rss_url,
        hf_url=env.get("PAPERFEED_HF_URL") or _DEFAULTS.hf_url,
        fetch_interval_s=_seconds(env.get("PAPERFEED_FETCH_INTERVAL_S")),
        base_url=_url(env.get("PAPERFEED_BASE_URL")) or "",
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
        outbound_allow=parse_proxies(
            env.get("PAPERFEED_OUTBOUND_ALLOW", ""), "PAPERFEED_OUTBOUND_ALLOW"
        ),
        max_line_bytes=_bytes(env.get("PAPERFEED_MAX_LINE_BYTES"), "PAPERFEED_MAX_LINE_BYTES")
        or _DEFAULTS.max_line_bytes,
        mail=mail_settings_from_env(env, ""),
        log_format=_choice(env.get("PAPERFEED_LOG_FORMAT"), "PAPERFEED_LOG_FORMAT", FORMATS)
        or _DEFAULTS.log_format,
        access_log=_flag(env.get("PAPERFEED_ACCESS_LOG"), "PAPERFEED_ACCESS_LOG"),
        metrics=_flag(env.get("PAPERFEED_METRICS"), "PAPERFEED_METRICS"),
        search_cache=_count(
            env.get("PAPERFEED_SEARCH_CACHE"), "PAPERFEED_SEARCH_CACHE", _DEFAULTS.search_cache
        ),
    )


def redact(url: str) -> str:
    """A database URL without its password (in the user part or a password= parameter), fit
    for messages and logs; a plain path as it is."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    shown = url
    if parts.password is not None:
        login, _, where = parts.netloc.rpartition("@")
        shown = shown.replace(parts.netloc, f"{login.partition(':')[0]}:{HIDDEN}@{where}", 1)
    if parts.query:
        items = [f"password={HIDDEN}" if item.partition("=")[0] == "password" else item
                 for item in parts.query.split("&")]  # fmt: skip
        shown = shown.replace("?" + parts.query, "?" + "&".join(items), 1)
    return shown


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


def _node(text: str | None) -> str:
    if text is None or text == "":
        return ""
    if not text.isprintable() or any(c.isspace() for c in text) or len(text) > 100:
        raise InputError(f"PAPERFEED_NODE={text!r} must be a short name without spaces, "
                         "such as web-1.")  # fmt: skip
    return text


def _lease(text: str | None) -> float | None:
    value = _seconds(text, "PAPERFEED_LEASE_S")
    if value is not None and value <= 0:
        raise InputError("PAPERFEED_LEASE_S must be more than 0 seconds.")
    return value


def _bytes(text: str | None, name: str) -> int | None:
    if not text:
        return None
    if not text.strip().isdigit() or int(text) == 0:
        raise InputError(f"{name}={text!r} is not a whole number of bytes, such as 16777216.")
    return int(text)


def _count(text: str | None, name: str, default: int) -> int:
    if text is None or text.strip() == "":
        return default
    if not text.strip().isdigit():
        raise InputError(f"{name}={text!r} is not a whole number, such as 4096 (0: off).")
    return int(text)


def _url(text: str | None) -> str | None:
    if not text:
        return None
    if not text.startswith(("http://", "https://")):
        raise InputError(f"PAPERFEED_BASE_URL={text!r} must start with http:// or https://.")
    return text.rstrip("/")


def _choice(text: str | None, name: str, choices: tuple[str, ...]) -> str | None:
    if not text:
        return None
    if text not in choices:
        raise InputError(f"{name}={text!r} is not one of {', '.join(choices)}.")
    return text


def _flag(text: str | None, name: str) -> bool:
    if text not in (None, "", "0", "1"):
        raise InputError(f"{name}={text!r} is not 1 (on) or 0 (off).")
    return text == "1"
