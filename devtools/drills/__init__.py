"""Executable drills (`make drill-<name>`); each writes a JSON report under .local/drills/."""
