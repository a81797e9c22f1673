-- Dense embeddings of title + abstract, one row per (model, paper). Kept in the database so
-- that rebuilding the vector index never needs the model again.
-- `vector` is little-endian float16 (half the disk of float32; cosine error ~1e-3).
-- `paper_changed` is the paper's change number when it was last checked: a paper changed after
-- that (a new version, new upvotes) is checked again, and re-embedded only if `text_hash`
-- (of the embedded text) differs. `changed` numbers vector writes, for the index to catch up.
CREATE TABLE embeddings (
    model         TEXT NOT NULL,
    seq           INTEGER NOT NULL REFERENCES papers(seq),
    paper_changed INTEGER NOT NULL,
    text_hash     TEXT NOT NULL,
    vector        BLOB NOT NULL,
    changed       INTEGER NOT NULL,
    PRIMARY KEY (model, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX embeddings_changed ON embeddings(model, changed);
