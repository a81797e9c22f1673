"""What text from papers may become on its way out, the same for pages, feeds and JSON.

Sources send anything: links that are `javascript:` or `data:` URLs, and control characters
(NUL, escape sequences) in titles and abstracts. Links are kept only when they are http(s);
control characters other than tab and newline are dropped when a page, feed or JSON answer is
rendered (the store keeps what the source sent). Escaping is not done here: templates and
ElementTree escape, orjson quotes.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from markupsafe import Markup

# C0 controls but tab and newline, DEL, and the two code points XML 1.0 forbids besides them
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")


def web_url(value: str | None) -> str | None:
    """`value` if it is an http(s) URL, else None: a source could send `javascript:...`."""
    if value and value.lower().startswith(("https://", "http://")):
        return value
    return None


def text(value: str | None) -> str:
    """`value` without control characters (tab and newline stay); None is ''."""
    return _CONTROL.sub("", value or "")


def finalize(value: Any) -> Any:
    """Every value a template prints (Jinja's `finalize`): strings lose control characters;
    markup stays markup (dropping control characters cannot make a tag)."""
    if isinstance(value, Markup):
        return Markup(text(value))
    return text(value) if isinstance(value, str) else value


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {_cleaned(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    return value


def dump_json(value: Any) -> bytes:
    """A JSON answer's body: `value` with every string (keys too) without control characters."""
    return orjson.dumps(_cleaned(value))
