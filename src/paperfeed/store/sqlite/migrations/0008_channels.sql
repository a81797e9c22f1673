-- Notification channels beyond email: a channel is a subscriber of another kind (a generic
-- webhook, a Slack or a Discord incoming webhook) owned by a signed-in user, so the delivery
-- ledger (planned before sent, never a paper twice, retries, expiry) serves every channel.
-- A channel's `email` is a unique synthetic address in the reserved .invalid domain (the
-- column stays NOT NULL UNIQUE and no table is rebuilt); `target` is the URL it posts to,
-- `secret` the HMAC key of a generic webhook, `failures` its failed deliveries in a row and
-- `disabled_note` why and when it was switched off (state 'suppressed').
ALTER TABLE subscribers ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'
    CHECK (channel IN ('email', 'webhook', 'slack', 'discord'));
ALTER TABLE subscribers ADD COLUMN target TEXT;
ALTER TABLE subscribers ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE subscribers ADD COLUMN secret TEXT;
ALTER TABLE subscribers ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscribers ADD COLUMN disabled_note TEXT;
CREATE INDEX subscribers_user ON subscribers (user_id) WHERE user_id IS NOT NULL;
