"""Trending and recommendations: pure functions of events, times and vectors (no I/O).
Filled in by the trending issue."""
