"""Email digests: composition (pure), subscriptions, signed tokens, delivery.
Filled in by the digest issue."""
