"""Retrieval evaluation: labelled query sets, ANN recall at scale, and the ef_search sweep."""
