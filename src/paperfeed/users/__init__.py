"""A user's own things: accounts, saved papers, and moving a personal library in and out."""
