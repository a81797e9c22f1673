-- Papers and the keys that identify them. `seq` is the internal row id that search indexes
-- point at; `changed` is a strictly increasing change number that lets every derived index
-- (keyword, vectors) catch up incrementally by asking for rows with changed > its mark.
CREATE TABLE papers (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    arxiv_id   TEXT,                         -- unique through paper_keys
    doi        TEXT,
    title      TEXT NOT NULL,
    abstract   TEXT NOT NULL DEFAULT '',
    authors    TEXT NOT NULL DEFAULT '[]',   -- JSON array of names, in order
    categories TEXT NOT NULL DEFAULT '[]',   -- JSON array, primary category first
    published  TEXT,                         -- ISO 8601 UTC, first version
    updated    TEXT,                         -- ISO 8601 UTC, latest version
    version    INTEGER,
    url        TEXT,
    pdf_url    TEXT,
    code_url   TEXT,
    sources    TEXT NOT NULL DEFAULT '[]',   -- JSON array of source names
    extra      TEXT NOT NULL DEFAULT '{}',   -- JSON object of source-specific fields
    changed    INTEGER NOT NULL UNIQUE
);

-- Every way a paper can be named: 'arxiv:2104.08663', 'doi:10.1/x', 'title:<normalized>',
-- 'id:<any id it ever had>'. Matching a new record looks these up in that order.
CREATE TABLE paper_keys (
    key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL REFERENCES papers(seq)
) WITHOUT ROWID;

-- Facts about this database. 'store_id' is a random id made once, so that a derived index
-- can tell that it was built from another database and must be rebuilt.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
