"""paperfeed: a self-hosted research-paper discovery service.

Papers flow one way: ingest (files, later arXiv and Hugging Face) -> store (SQLite by default)
-> search indexes (keyword now, vectors later) -> CLI, web, digests.
"""

__version__ = "0.1.0"
