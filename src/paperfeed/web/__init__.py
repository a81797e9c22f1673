"""The web UI and JSON API (create_app). Filled in by the web issue; until then the CLI is the
only front end."""
