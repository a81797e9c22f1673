"""Crash safety: `paperfeed digest run` killed with SIGKILL at random points (many seeds),
against a real SMTP server, then run again until it finishes.

What must hold (the sender module's docstring promises it): every confirmed subscriber gets
their digest; nobody gets it twice except for the one message that was in flight when a
sender was killed, and such a repeat carries the same Message-ID; the ledger ends with every
delivery sent."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paperfeed.store import open_store
from tests.digest.test_sender import add_day, confirmed_subscribers
from tests.mail import SMTPCatcher

SUBSCRIBERS = 30
SEEDS = range(8)
SECRET = "crash-test-secret"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Today's papers and 30 confirmed subscribers (their confirmations already dealt with)."""
    path = tmp_path_factory.mktemp("crash") / "template.db"
    store = open_store(str(path))
    now = time.time()
    add_day(store, datetime.now(UTC))
    confirmed_subscribers(store, SECRET.encode(), SUBSCRIBERS, now)
    store.close()
    return path


def _sender(db: Path, smtp: SMTPCatcher, *, stderr: int = subprocess.DEVNULL
            ) -> subprocess.Popen[bytes]:  # fmt: skip
    env = {
        **os.environ,
        "PAPERFEED_SMTP_HOST": smtp.host, "PAPERFEED_SMTP_PORT": str(smtp.port),
        "PAPERFEED_SMTP_SECURITY": "none", "PAPERFEED_SECRET_KEY": SECRET,
        "PAPERFEED_MAIL_RATE": "100000", "PAPERFEED_BASE_URL": "http://127.0.0.1:8000",
    }  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "paperfeed", "--db", str(db), "digest", "run"],
                            env=env, stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_senders_lose_nothing_and_repeat_at_most_the_message_in_flight(
    seed: int, template_db: Path, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    db = tmp_path / "digest.db"
    shutil.copy(template_db, db)
    kills = 0
    with SMTPCatcher() as smtp:
        for _ in range(2):  # two kills per seed, at random points
            target = rng.randrange(0, SUBSCRIBERS)  # after this many messages arrived...
            extra_s = rng.random() * 0.01  # ...and a random moment more
            proc = _sender(db, smtp)
            deadline = time.monotonic() + 30
            while len(smtp.received) < target and proc.poll() is None:
                assert time.monotonic() < deadline, "the sender made no progress"
                time.sleep(0.0005)
            time.sleep(extra_s)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        proc = _sender(db, smtp, stderr=subprocess.PIPE)  # the run that finishes
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        received = smtp.received

    by_person = Counter(r.rcpt_tos[0] for r in received)
    assert set(by_person) == {f"p{i:02d}@example.org" for i in range(SUBSCRIBERS)}
    repeats = sum(n - 1 for n in by_person.values())
    assert repeats <= kills
    ids = Counter(r.message["Message-ID"] for r in received)
    assert len(ids) == SUBSCRIBERS  # a repeat is the same message, same Message-ID
    store = open_store(str(db), readonly=True)
    try:
        assert store.count_deliveries() == {"sent": SUBSCRIBERS, "cancelled": SUBSCRIBERS}
    finally:
        store.close()
