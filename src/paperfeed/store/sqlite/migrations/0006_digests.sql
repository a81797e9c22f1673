-- Email digests: subscribers (double opt-in), what each was sent, the delivery ledger and the
-- sender's lease. Times are seconds since 1970 (REAL); days are ISO dates.

-- One row per address, kept after unsubscribing (the consent record says who asked, when and
-- how; an unsubscribed or suppressed address gets nothing until it subscribes and confirms).
CREATE TABLE subscribers (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: tokens name it
    email            TEXT NOT NULL UNIQUE,               -- lower-cased
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'confirmed', 'unsubscribed', 'suppressed')),
    created_at       REAL NOT NULL,
    requested_at     REAL NOT NULL,            -- the latest subscribe request
    request_source   TEXT NOT NULL,            -- web, api, cli
    confirm_sent_at  REAL,                     -- the one confirmation of this request round
    consent_at       REAL,                     -- when the address confirmed
    consent_source   TEXT,                     -- where the confirmed request came from
    unsubscribed_at  REAL,
    bounces          INTEGER NOT NULL DEFAULT 0,  -- permanent failures in a row
    last_period      TEXT,                     -- the latest digest period planned
    last_day         TEXT,                     -- the newest listing day it covered
    last_seq         INTEGER,                  -- the newest stored paper it covered (undated)
    -- preferences
    frequency        TEXT NOT NULL DEFAULT 'daily' CHECK (frequency IN ('daily', 'weekly', 'paused')),
    weekday          INTEGER NOT NULL DEFAULT 0 CHECK (weekday BETWEEN 0 AND 6),  -- 0 = Monday
    hour             INTEGER NOT NULL DEFAULT 7 CHECK (hour BETWEEN 0 AND 23),
    timezone         TEXT NOT NULL DEFAULT 'UTC',
    topics           TEXT NOT NULL DEFAULT '[]',  -- saved searches (JSON list)
    categories       TEXT NOT NULL DEFAULT '[]',  -- arXiv categories (JSON list)
    include_trending INTEGER NOT NULL DEFAULT 1,
    max_papers       INTEGER NOT NULL DEFAULT 10,
    empty_notice     INTEGER NOT NULL DEFAULT 0   -- a short mail on a day with nothing new
);
CREATE INDEX subscribers_state ON subscribers (state, id);

-- The delivery ledger: one row per (subscriber, kind, period), written with its plan before
-- anything is sent. planned -> sending -> sent | failed; expired (its period passed unsent)
-- and cancelled (the address unsubscribed first) are final too.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('confirm', 'digest')),
    period          TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'planned'
                    CHECK (state IN ('planned', 'sending', 'sent', 'failed', 'expired', 'cancelled')),
    message_id      TEXT NOT NULL,
    plan            TEXT NOT NULL,   -- JSON: what the message holds, rendered at send time
    planned_at      REAL NOT NULL,
    send_by         REAL NOT NULL,   -- not sent after this
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    sent_at         REAL,
    UNIQUE (subscriber_id, kind, period)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);

-- Papers a subscriber's digests hold (planned or sent): never the same paper twice. A
-- delivery that fails or expires gives its papers back.
CREATE TABLE sent_papers (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    delivery_id   INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    PRIMARY KEY (subscriber_id, seq)
) WITHOUT ROWID;
CREATE INDEX sent_papers_delivery ON sent_papers (delivery_id);

-- Named leases shared by every process on this database: only one digest sender at a time.
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
) WITHOUT ROWID;
