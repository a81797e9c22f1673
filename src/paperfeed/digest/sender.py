"""The digest sender: plans each due digest into the delivery ledger, then delivers the ledger.

One pass (`DigestSender.run_pass`, what `paperfeed digest run` and the scheduler thread in
`paperfeed serve` call):

1. takes the sender lease in the store, so only one sender runs at a time however many server
   processes and nodes there are (a dead holder's lease is taken over at once by its own node,
   any other when it runs out after `LEASE_S` or PAPERFEED_LEASE_S); the pass renews it as it
   goes: at least every third of its TTL while planning, after every message while sending;
2. plans: for every confirmed subscriber whose current period (digest.schedule) has no digest
   yet, composes it (digest.compose) and writes the plan, the papers it holds and the
   subscriber's new last period in one transaction, before anything is sent. A digest whose
   new papers are not all embedded yet (the server's embedder is still at them) waits for
   them, at most EMBED_WAIT_S after its period starts; then it is composed with what is
   embedded, and its plan in the ledger says how many were not (`unembedded`);
3. sends: claims due deliveries one at a time (planned -> sending), builds each one's content
   (its papers, links signed as of the planning time) and hands it to the channel of the
   subscriber's kind (digest.channels: email with a deterministic Message-ID, a signed generic
   webhook, Slack, Discord), and records the outcome (sent; planned again after a temporary
   failure, with exponential backoff or the receiver's Retry-After; failed after a permanent
   one). The sender never knows which channel it talks to.

Guarantees, and their one window: a period is planned at most once per subscriber (the ledger's
unique key) and a paper is never planned twice for one person (sent_papers). A message is
marked sent only after the server accepted it; if the sender dies after the server accepted a
message and before that mark, the next sender sends that one message again, with the same
Message-ID (mail systems that deduplicate on it show it once). That is the only duplicate
possible: at most one message per killed sender. A delivery is never sent after its period's
`send_by` (restored backups, long outages): it expires and its papers go back to the pool.

Permanent failures that concern the address (the server refused the recipient or the message)
count as bounces; `bounce_limit` in a row suppress the address. Failures of our own set-up
(login, TLS, the sender address) count against nobody: the pass stops, the delivery waits
for a retry, and the error is logged for the operator. A webhook channel counts its failed
deliveries in a row (one failing permanently, or expiring after failed attempts);
`failure_limit` of them disable it (state suppressed, with a note saying why and when, shown
on its owner's account page) and mail its owner a note when mail is set up. A delivery that
goes out resets either count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from paperfeed.digest import schedule, subscriptions
from paperfeed.digest.channels import (
    CLICK_TTL_S,
    Channel,
    Contents,
    DeliveryError,
    EmailChannel,
    describe,
    webhook_channels,
)
from paperfeed.digest.compose import Composer
from paperfeed.digest.mailer import Mailer, MailError, Message
from paperfeed.digest.outbound import Outbound
from paperfeed.errors import PaperfeedError
from paperfeed.owners import Lease
from paperfeed.periodic import Periodic
from paperfeed.rank import trending
from paperfeed.search.engine import SearchEngine
from paperfeed.store import UNSET, Delivery, Store, Subscriber, SubscriberChange

log = logging.getLogger(__name__)

LEASE = "digest-sender"
LEASE_S = 120.0
BACKOFF_S = 60.0  # the first retry; doubling up to BACKOFF_MAX_S
BACKOFF_MAX_S = 3600.0
BOUNCE_LIMIT = 2
FAILURE_LIMIT = 5  # failed deliveries in a row that disable a webhook channel
RATE_PER_S = 10.0
__all__ = ["CLICK_TTL_S", "DigestSender", "PassReport", "digest_thread"]  # (CLICK_TTL_S: moved)
EMBED_WAIT_S = 1800.0  # how long after its period starts a digest waits for embeddings


@dataclass(slots=True)
class PassReport:
    """What one pass did."""

    busy: bool = False  # another sender holds the lease: nothing done
    planned: int = 0
    empty: int = 0  # periods with nothing to send (and no notice wanted)
    waiting: int = 0  # digests held back until their new papers are embedded
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "busy": self.busy, "planned": self.planned, "empty": self.empty,
            "waiting": self.waiting, "sent": self.sent,
            "retried": self.retried, "failed": self.failed, "expired": self.expired,
            "cancelled": self.cancelled, "suppressed": self.suppressed, "errors": self.errors,
        }  # fmt: skip


class _Stop(Exception):
    """The pass must end now (lease lost, or our own mail set-up is broken)."""


class DigestSender:
    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        *,
        secret: bytes,
        base_url: str,
        open_engine: Callable[[Store], SearchEngine | None] = lambda store: None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        today: Callable[[], date] | None = None,
        rate_per_s: float = RATE_PER_S,
        bounce_limit: int = BOUNCE_LIMIT,
        backoff_s: float = BACKOFF_S,
        owner: str | None = None,
        lease_s: float | None = None,
        trending_max_age_s: float = 600.0,
        embed_wait_s: float = EMBED_WAIT_S,
        channels: Mapping[str, Channel] | None = None,
        failure_limit: int = FAILURE_LIMIT,
    ) -> None:
        self.store, self.mailer, self.secret = store, mailer, secret
        self.base_url = base_url.rstrip("/")
        self.contents = Contents(store, secret, self.base_url)
        self.email = EmailChannel(mailer, secret=secret, base_url=self.base_url)
        # (no channels given: webhooks go to public addresses only)
        self.channels: dict[str, Channel] = {
            **(webhook_channels(Outbound(), clock) if channels is None else channels),
            "email": self.email,
        }
        self.failure_limit = failure_limit
        self.open_engine = open_engine
        self.clock, self.sleep = clock, sleep
        self.today = today or (lambda: datetime.fromtimestamp(self.clock(), UTC).date())
        self.min_gap_s = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self.bounce_limit = bounce_limit
        self.backoff_s = backoff_s
        self.lease = Lease(LEASE, lease_s or LEASE_S, owner, clock)
        self.trending_max_age_s = trending_max_age_s
        self.embed_wait_s = embed_wait_s
        self._last_send = -1e18
        self._engine: SearchEngine | None = None
        self._engine_opened = False

    # -- the pass ---------------------------------------------------------------------------

    def run_pass(self, *, plan: bool = True, send: bool = True) -> PassReport:
        report = PassReport()
        if not self.lease.take(self.store):
            report.busy = True
            return report
        try:
            if plan:
                self.plan_due(report)
            if send:
                self.send_due(report)
        except _Stop as stop:
            report.errors.append(str(stop))
        finally:
            self.lease.drop(self.store)
        return report

    def _renew(self, *, soon: bool = False) -> None:
        """Renew the lease (`soon`: only when a third of its TTL has passed); stop the pass
        when another sender took it over."""
        if not (self.lease.keep if soon else self.lease.renew)(self.store):
            raise _Stop("Another digest sender took over; this one stopped.")

    # -- planning ---------------------------------------------------------------------------

    def plan_due(self, report: PassReport) -> None:
        composer: Composer | None = None
        for sub in self.store.iter_subscribers("confirmed"):  # (batches: no open cursor)
            self._renew(soon=True)  # planning many takes longer than the lease lasts
            now = self.clock()
            period = schedule.current_period(sub.prefs, now)
            if period is None or now >= period.send_by or not _after(period.key, sub.last_period):
                continue
            if composer is None:
                # "trending" lines must be as current as the trending page
                trending.refresh_if_stale(self.store, self.today(), self.trending_max_age_s,
                                          self.clock())  # fmt: skip
                composer = Composer(self.store, self._search_engine(), self.today(), now=now)
                self._renew()
            digest = composer.compose(sub)
            if digest.unembedded:
                if now < period.starts + self.embed_wait_s:
                    report.waiting += 1  # its new papers are being embedded: next pass
                    continue
                log.warning("digest composed with %d new papers not embedded yet (waited %d s)"
                            " subscriber=%d period=%s", digest.unembedded, self.embed_wait_s,
                            sub.id, period.key)  # fmt: skip
            if not digest.items and not sub.prefs.empty_notice:
                self.store.update_subscriber(sub.id, SubscriberChange(
                    last_period=period.key,
                    last_day=digest.until or UNSET,
                    last_seq=digest.last_seq or UNSET,
                ))  # fmt: skip
                report.empty += 1
                continue
            body = {**digest.to_json(), "day": period.day.isoformat()}
            planned = self.store.plan_delivery(
                sub.id, "digest", period.key, message_id=f"digest.{sub.id}.{period.key}",
                plan=body, now=now, send_by=period.send_by,
                seqs=[item.seq for item in digest.items], last_day=digest.until,
                last_seq=digest.last_seq,
            )  # fmt: skip
            report.planned += planned is not None

    def _search_engine(self) -> SearchEngine | None:
        if not self._engine_opened:
            self._engine = self.open_engine(self.store)
            self._engine_opened = True
        return self._engine

    # -- sending ----------------------------------------------------------------------------

    def send_due(self, report: PassReport) -> None:
        self._renew(soon=True)  # each message is claimed with most of the lease ahead
        while (delivery := self.store.claim_delivery(self.clock())) is not None:
            self._send(delivery, report)
            self._renew()

    def _send(self, delivery: Delivery, report: PassReport) -> None:
        now = self.clock()
        sub = self.store.get_subscriber(delivery.subscriber_id)
        if sub is None or not _still_wanted(sub, delivery):
            self.store.finish_delivery(delivery.id, "cancelled", now, error="no longer wanted")
            report.cancelled += 1
            return
        if now >= delivery.send_by:
            self.store.finish_delivery(delivery.id, "expired", now, error="its period passed")
            log.info("delivery expired id=%d subscriber=%d", delivery.id, sub.id)
            report.expired += 1
            if sub.channel != "email" and delivery.last_error is not None:
                # it failed until its period passed: a failed delivery of this channel
                self._count_failure(sub, now, f"a delivery failed until it expired "
                                    f"({delivery.last_error})", report)  # fmt: skip
            return
        channel = self.channels.get(sub.channel)
        try:
            if channel is None:
                raise PaperfeedError(f"No {sub.channel} channel is set up on this server.")
            content = self.contents.build(sub, delivery)
        except (PaperfeedError, ValueError) as exc:  # cannot be built: retrying will not help
            self.store.finish_delivery(delivery.id, "failed", now, error=str(exc))
            report.failed += 1
            return
        self._pace()
        try:
            assert channel is not None
            channel.deliver(sub, delivery, content)
        except DeliveryError as exc:
            self._failed(sub, delivery, exc, report)
            return
        self.store.finish_delivery(delivery.id, "sent", self.clock())
        if sub.bounces or sub.failures:
            self.store.update_subscriber(sub.id, SubscriberChange(bounces=0, failures=0))
        report.sent += 1

    def _pace(self) -> None:
        wait = self._last_send + self.min_gap_s - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last_send = time.monotonic()

    def _failed(self, sub: Subscriber, delivery: Delivery, exc: DeliveryError,
                report: PassReport) -> None:  # fmt: skip
        now = self.clock()
        if exc.temporary:
            backoff = min(self.backoff_s * 2 ** (delivery.attempts - 1), BACKOFF_MAX_S)
            retry_at = now + max(backoff, exc.retry_after_s or 0.0)
            self.store.finish_delivery(delivery.id, "planned", now, error=str(exc),
                                       retry_at=retry_at)  # fmt: skip
            report.retried += 1
            log.warning("delivery deferred id=%d attempt=%d error=%s", delivery.id,
                        delivery.attempts, exc)  # fmt: skip
            if exc.ours:
                raise _Stop(f"Mail cannot be sent as configured: {exc}")
            return
        self.store.finish_delivery(delivery.id, "failed", now, error=str(exc))
        report.failed += 1
        self._count_failure(sub, now, str(exc), report, delivery_id=delivery.id)

    def _count_failure(self, sub: Subscriber, now: float, error: str, report: PassReport, *,
                       delivery_id: int | None = None) -> None:  # fmt: skip
        """One more failed delivery in a row for `sub`: an address bounced, a channel failed;
        at the limit the address is suppressed, the channel disabled."""
        if sub.channel == "email":
            bounces = sub.bounces + 1
            if bounces >= self.bounce_limit:
                change = SubscriberChange(state="suppressed", bounces=bounces)
                subscriptions.stop_mail(self.store, sub.id, now, change)
                report.suppressed += 1
                log.warning("address suppressed subscriber=%d bounces=%d", sub.id, bounces)
            else:
                self.store.update_subscriber(sub.id, SubscriberChange(bounces=bounces))
                log.warning("delivery bounced id=%s subscriber=%d error=%s", delivery_id,
                            sub.id, error)  # fmt: skip
            return
        failures = sub.failures + 1
        if failures < self.failure_limit:
            self.store.update_subscriber(sub.id, SubscriberChange(failures=failures))
            log.warning("channel delivery failed subscriber=%d failures=%d error=%s", sub.id,
                        failures, error)  # fmt: skip
            return
        when = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M UTC")
        note = (f"Disabled on {when} after {failures} failed deliveries in a row; the last: "
                f"{error}")  # fmt: skip
        change = SubscriberChange(state="suppressed", failures=failures, disabled_note=note)
        subscriptions.stop_mail(self.store, sub.id, now, change)
        report.suppressed += 1
        log.warning("channel disabled subscriber=%d failures=%d", sub.id, failures)
        self._tell_owner(sub, note)

    def _tell_owner(self, sub: Subscriber, note: str) -> None:
        """Mail the owner of a disabled channel, best effort (a failure is logged)."""
        owner = self.store.get_user(sub.user_id) if sub.user_id is not None else None
        if owner is None:
            return
        text = (f"Hello,\n\nYour paperfeed notification channel ({describe(sub)}) was switched "
                f"off.\n{note}\n\nFix the receiver, then enable it again on your account "
                f"page:\n\n{self.base_url}/account\n")  # fmt: skip
        message = Message(owner.email, "paperfeed: a notification channel was switched off",
                          text, headers={"Auto-Submitted": "auto-generated"})  # fmt: skip
        try:
            self.mailer.send(message)
        except MailError as exc:
            log.warning("could not mail the owner of disabled channel subscriber=%d: %s",
                        sub.id, exc)  # fmt: skip

    def preview(self, sub: Subscriber) -> Message | None:
        """The digest `sub` would get if their period were due now, written nowhere; None
        when it would hold nothing (and they want no notice)."""
        digest = Composer(
            self.store, self._search_engine(), self.today(), now=self.clock()
        ).compose(sub)
        if not digest.items and not sub.prefs.empty_notice:
            return None
        now = self.clock()
        period = schedule.current_period(sub.prefs, now)
        key = period.key if period else "preview"
        day = period.day.isoformat() if period else self.today().isoformat()
        delivery = Delivery(0, sub.id, "digest", key, "planned", f"digest.{sub.id}.{key}",
                            {**digest.to_json(), "day": day}, now, now)  # fmt: skip
        return self.message(sub, delivery)

    def message(self, sub: Subscriber, delivery: Delivery) -> Message:
        """The mail of a delivery; the same every time for the same ledger row (links are
        signed as of the planning time), so a resent message is the same message."""
        return self.email.message(sub, self.contents.build(sub, delivery))


def _after(key: str, last: str | None) -> bool:
    """Whether period `key` comes after the subscriber's last planned one (a clock set back,
    or a changed frequency whose period began earlier, must not plan a period again)."""
    return last is None or key[1:] > last[1:]


def _still_wanted(sub: Subscriber, delivery: Delivery) -> bool:
    if delivery.kind == "confirm":  # only the confirmation of the current request round
        sent_at = sub.confirm_sent_at
        return sub.state == "pending" and sent_at is not None and (
            delivery.plan.get("round") == int(sent_at))  # fmt: skip
    return sub.state == "confirmed"


def digest_thread(open_store: Callable[[], Store], make_sender: Callable[[Store], DigestSender],
                  *, poll_s: float = 60.0) -> Periodic:  # fmt: skip
    """The sender of `paperfeed serve`: a pass every `poll_s` seconds in a background thread,
    or at once when woken (a subscribe request planned a confirmation)."""
    made: list[DigestSender] = []  # once, on the thread's own connection

    def work(store: Store) -> None:
        if not made:
            made.append(make_sender(store))
        report = made[0].run_pass()
        if report.planned or report.sent or report.errors:
            log.info("digest pass %s", report.as_json())

    return Periodic("digest-sender", open_store, work, poll_s)
