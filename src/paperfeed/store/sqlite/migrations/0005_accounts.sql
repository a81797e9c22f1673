-- Accounts without passwords, personal libraries, engagement and the trending ranking.
-- Times used in decay arithmetic (`at`) are seconds since 1970 (REAL); the rest ISO 8601 UTC.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused after a deletion
    email          TEXT NOT NULL UNIQUE,       -- lower-cased
    created_at     TEXT NOT NULL,
    last_signin_at TEXT
);

-- A session cookie holds a random token; only its SHA-256 is kept, so a copy of the database
-- cannot be used to sign in.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

-- Signed one-time links that were used: a link's nonce may be spent once. Rows go once the
-- link would have expired anyway.
CREATE TABLE spent_tokens (
    nonce      TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;

-- A user's upvotes, saves and "not interested" marks: one of each per paper, so one vote per
-- account per paper is a key, not a check.
CREATE TABLE reactions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL REFERENCES papers(seq),
    kind    TEXT NOT NULL CHECK (kind IN ('upvote', 'save', 'hide')),
    at      REAL NOT NULL,
    PRIMARY KEY (user_id, seq, kind)
) WITHOUT ROWID;
CREATE INDEX reactions_rank ON reactions (kind, seq, at);

CREATE TABLE tags (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL REFERENCES papers(seq),
    tag     TEXT NOT NULL,
    PRIMARY KEY (user_id, seq, tag)
) WITHOUT ROWID;

-- Anonymous engagement: page views and digest clicks, one row per counted event (a client's
-- repeats within a burst are not counted; see `recent_clients`). The covering index lets the
-- trending recompute stream each signal in paper order without sorting.
CREATE TABLE events (
    id     INTEGER PRIMARY KEY,
    seq    INTEGER NOT NULL,
    signal TEXT NOT NULL,
    at     REAL NOT NULL,
    amount REAL NOT NULL DEFAULT 1
);
CREATE INDEX events_rank ON events (signal, seq, at, amount);

-- Who was counted recently, by a keyed hash of the client (never the address itself).
CREATE TABLE recent_clients (
    client TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    signal TEXT NOT NULL,
    at     REAL NOT NULL,
    PRIMARY KEY (client, seq, signal)
) WITHOUT ROWID;
CREATE INDEX recent_clients_at ON recent_clients (at);

-- Sliding-window rate limits shared by every server process: one row per counted hit.
CREATE TABLE rate_hits (
    key TEXT NOT NULL,
    at  REAL NOT NULL
);
CREATE INDEX rate_hits_key ON rate_hits (key, at);

-- The trending ranking as of its last recompute: per window, the papers with any engagement,
-- their score (prior included) and each signal's part (JSON). Papers without engagement are
-- ranked by their prior at read time, after these.
CREATE TABLE trending (
    span      TEXT NOT NULL,              -- day, week, month
    seq       INTEGER NOT NULL,
    day       TEXT,
    published TEXT,
    score     REAL NOT NULL,
    parts     TEXT NOT NULL,
    PRIMARY KEY (span, seq)
) WITHOUT ROWID;
CREATE INDEX trending_rank ON trending (span, score DESC, day DESC, published DESC, seq DESC);

-- When each window was computed, the time its scores are as of (decay stops at the end of the
-- newest day with papers, so an archive still ranks), and the days it covered.
CREATE TABLE trending_state (
    span        TEXT PRIMARY KEY,
    computed_at REAL NOT NULL,
    as_of       REAL NOT NULL,
    since       TEXT,
    until       TEXT
);
