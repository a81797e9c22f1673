-- "For you": what a reader follows before their library says it (arXiv categories, space
-- separated, for the cold start), and the key of their private Atom feed (kept as is: see the
-- SQLite migration 0007_foryou.sql).
ALTER TABLE users ADD COLUMN categories TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN feed_key TEXT COLLATE "C";
CREATE UNIQUE INDEX users_feed_key ON users (feed_key) WHERE feed_key IS NOT NULL;
