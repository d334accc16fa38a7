"""LLM providers. Each streams text deltas; any exception means "fall back to extractive"."""
