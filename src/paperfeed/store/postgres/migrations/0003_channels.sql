-- Notification channels beyond email (see the SQLite migration 0008_channels.sql): the same
-- columns in the same order, so copy-store moves subscribers either way.
ALTER TABLE subscribers ADD COLUMN channel TEXT COLLATE "C" NOT NULL DEFAULT 'email'
    CHECK (channel IN ('email', 'webhook', 'slack', 'discord'));
ALTER TABLE subscribers ADD COLUMN target TEXT;
ALTER TABLE subscribers ADD COLUMN user_id BIGINT REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE subscribers ADD COLUMN secret TEXT;
ALTER TABLE subscribers ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN disabled_note TEXT;
CREATE INDEX subscribers_user ON subscribers (user_id) WHERE user_id IS NOT NULL;
