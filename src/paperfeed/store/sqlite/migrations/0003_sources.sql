-- Sources the operator configured (arXiv sets, queries, listings, Hugging Face daily papers),
-- where each one's harvest stands, and what it brought besides papers.
CREATE TABLE sources (
    name          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,               -- arxiv-oai, arxiv-api, arxiv-listing, hf-daily
    config        TEXT NOT NULL DEFAULT '{}',  -- JSON: set, query, categories, since, ...
    interval_s    INTEGER NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    -- The harvest cursor (JSON), written in the same transaction as the papers it covers:
    -- a run killed at any point resumes from the last page it committed.
    cursor        TEXT NOT NULL DEFAULT '{}',
    next_run_at   TEXT NOT NULL,               -- ISO 8601 UTC
    last_run_at   TEXT,
    last_ok_at    TEXT,
    last_error    TEXT,
    failures      INTEGER NOT NULL DEFAULT 0,  -- consecutive failed runs (drives the backoff)
    last_added    INTEGER NOT NULL DEFAULT 0,  -- new papers in the last finished run
    papers_added  INTEGER NOT NULL DEFAULT 0,  -- new papers over all runs
    lease_owner   TEXT,                        -- the process harvesting it now, if any
    lease_until   TEXT
);

-- A paper appearing in a list on a day: an arXiv announcement (new, cross, replace,
-- replace-cross) or a Hugging Face daily-papers feature ('featured').
CREATE TABLE announcements (
    list TEXT NOT NULL,                        -- 'arxiv:cs.LG', 'hf-daily'
    day  TEXT NOT NULL,                        -- YYYY-MM-DD
    seq  INTEGER NOT NULL REFERENCES papers(seq),
    kind TEXT NOT NULL,
    PRIMARY KEY (list, day, seq)
) WITHOUT ROWID;
CREATE INDEX announcements_day ON announcements (day);
CREATE INDEX announcements_seq ON announcements (seq);

-- Outside measurements of attention, as a time series: a row is written only when a value
-- differs from the latest one recorded for (paper, name), so re-harvests add nothing.
CREATE TABLE signals (
    seq         INTEGER NOT NULL REFERENCES papers(seq),
    name        TEXT NOT NULL,                 -- hf_upvotes, hf_comments, github_stars
    observed_at TEXT NOT NULL,                 -- ISO 8601 UTC
    value       REAL NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (seq, name, observed_at)
) WITHOUT ROWID;
CREATE INDEX signals_observed ON signals (observed_at);
