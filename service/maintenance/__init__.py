"""Scheduled upkeep the ingestion workers run (procrastinate periodic tasks)."""
