-- "For you": what a reader follows before their library says it (arXiv categories, space
-- separated, for the cold start), and the key of their private Atom feed. The key is kept as
-- is, not hashed: the page shows the feed's URL again, and a copy of the database already
-- holds the library the feed is computed from, so the key adds nothing to what it reveals.
ALTER TABLE users ADD COLUMN categories TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN feed_key TEXT;
CREATE UNIQUE INDEX users_feed_key ON users (feed_key) WHERE feed_key IS NOT NULL;
