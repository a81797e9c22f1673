"""Lets `python -m paperfeed` behave exactly like the `paperfeed` command."""

from paperfeed.cli import main

raise SystemExit(main())
