"""Operational tooling that runs against a real database: drills rehearsing the runbooks."""
