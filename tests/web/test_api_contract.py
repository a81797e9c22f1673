"""The API keeps its own description: schemathesis sends every operation of `/openapi.json`
examples made from it, valid and invalid, against a real `paperfeed serve` of the seed papers,
the hostile paper and the recorded Hugging Face day, and checks each answer: no 5xx, a status
code, content type, headers and body the description names, invalid input refused, valid input
accepted, 405 with `Allow` for a method a path does not take.

Covered: every operation the description has. Exercised whole: the GET routes (JSON twins,
feeds, the Hugging Face API, /healthz, the HTML pages /subscribe, /confirm, /preferences and
/u/{token}; /library.json without a session, 401) and /api/subscribe, the JSON POST that needs
no session (origin only). Only refusals can be checked where no example can carry what the
server signs: the browser-form POSTs (/subscribe, /confirm, /preferences, /paper/{id}/{action})
without a form token (403), and the links' token (/confirm, /preferences, /u/{token}: 400).

Left out: `allow_header_conformance` everywhere (it wants `Allow` to list just the methods
described, but /paper/{id}/{action} also answers GET, as the page of a paper whose old-style id
holds a slash), and `positive_data_acceptance` where valid-looking input is rightly refused
(`NO_VALID_EXAMPLES`, and a search whose `since` is after its `until`).

A deterministic run of a few examples per operation (`EXAMPLES`, about 15 s); bench/contract.py
runs many more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance

from paperfeed.web.openapi import openapi
from tests.web.conftest import copy_database, serving

# examples per operation: a deterministic run of a few; bench/contract.py asks for more
EXAMPLES = int(os.environ.get("PAPERFEED_CONTRACT_EXAMPLES", "20"))
schema = schemathesis.openapi.from_dict(openapi())
# Operations whose valid input the description cannot say whole, so that valid-looking examples
# are rightly refused: addresses have stricter rules than `format: email`, and a token must be
# signed by the server.
NO_VALID_EXAMPLES = {
    *("POST /api/subscribe", "POST /u/{token}", "POST /confirm", "POST /preferences"),
    *("GET /confirm", "GET /preferences", "GET /u/{token}"),
}


@pytest.fixture(scope="module")
def base(served_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own (subscribe requests write), on a copy of the served database."""
    folder = tmp_path_factory.mktemp("contract")
    db = folder / "contract.db"
    copy_database(served_db, db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_SMTP")}
    with serving(db, env={**env, "PAPERFEED_OUTBOX": str(folder / "outbox")}) as url:
        assert httpx.get(url + "/openapi.json").json() == openapi()  # what it serves is tested
        yield url


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_every_operation_keeps_its_contract(case: schemathesis.Case, base: str) -> None:
    case.call_and_validate(base_url=base, excluded_checks=excluded_checks(case))


def excluded_checks(case: schemathesis.Case) -> list[CheckFunction]:
    """The checks left out for a case (see the module's docstring); bench/contract.py too."""
    excluded: list[CheckFunction] = [allow_header_conformance]
    if case.operation.label in NO_VALID_EXAMPLES or _since_after_until(case):
        excluded.append(positive_data_acceptance)
    return excluded


def _since_after_until(case: schemathesis.Case) -> bool:
    """A search from a day after the day it ends: each date valid, the pair refused (400, in
    a sentence), a rule across two parameters that the description cannot carry."""
    query = case.query or {}
    since, until = str(query.get("since") or ""), str(query.get("until") or "")
    return bool(since and until) and since > until  # (YYYY-MM-DD sorts as it reads)
