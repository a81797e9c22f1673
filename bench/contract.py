"""The API contract, nightly-sized: what tests/web/test_api_contract.py checks with a few examples
per operation, with many, valid and invalid, and a table of what was sent and answered.

A real `paperfeed serve` of the test suite's served database (the seed papers, the hostile
paper and the recorded Hugging Face day, embedded), its own `/openapi.json` read by
schemathesis; each operation gets the description's own examples, `--examples` valid examples
and as many invalid ones, each answer checked as the test checks it (the same checks left out,
see its docstring). Every failure is listed with the request that reproduces it; the exit code
is 1 when there was one.

    .venv/bin/python bench/contract.py [--examples 300]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's database and checks, shared, not copied

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from hypothesis.strategies import SearchStrategy  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.schemas import APIOperation  # noqa: E402

from tests.web.conftest import build_served_db, serving  # noqa: E402
from tests.web.test_api_contract import excluded_checks  # noqa: E402


def strategy(operation: APIOperation, mode: str) -> SearchStrategy[schemathesis.Case]:
    """Cases of the description's own examples, or made valid or invalid from its schemas."""
    if mode == "examples":
        return st.one_of(operation.schema.get_strategies_from_examples(operation))
    return operation.as_strategy(generation_mode=GenerationMode(mode))


def exercise(operation: APIOperation, mode: str, base: str, examples: int
             ) -> tuple[Counter[int], list[str]]:  # fmt: skip
    """The status codes `examples` cases of `mode` got, and what failed (one line each)."""
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy(operation, mode))
    def send(case: schemathesis.Case) -> None:
        response = case.call(base_url=base)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, excluded_checks=excluded_checks(case))
        except FailureGroup as group:
            for failure in group.exceptions:
                title = str(failure).strip().splitlines()[0]
                failures.append(f"{title}: {case.as_curl_command()}")

    with contextlib.suppress(Unsatisfiable):  # nothing of that kind to make (no example, say)
        send()
    return statuses, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="per operation and mode")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="paperfeed-contract-"))
    db = build_served_db(folder / "contract.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_SMTP")}
    all_failures: list[str] = []
    with serving(db, env={**env, "PAPERFEED_OUTBOX": str(folder / "outbox")}) as base:
        schema = schemathesis.openapi.from_url(base + "/openapi.json")
        print(f"{'operation':<30} {'mode':<8} {'sent':>5} {'failed':>6}  answers")
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in ("examples", "positive", "negative"):
                statuses, failures = exercise(operation, mode, base, args.examples)
                answers = " ".join(f"{code}x{n}" for code, n in sorted(statuses.items()))
                print(f"{operation.label:<30} {mode:<8} {statuses.total():>5} "
                      f"{len(failures):>6}  {answers}")  # fmt: skip
                all_failures += [f"{operation.label} ({mode}): {f}" for f in failures]
    for failure in dict.fromkeys(all_failures):
        print(failure)
    print(f"{len(all_failures)} failed checks" if all_failures else "no failed checks")
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
