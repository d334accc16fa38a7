"""Hybrid retrieval: access-scoped vector + full-text search fused by Reciprocal Rank Fusion."""
