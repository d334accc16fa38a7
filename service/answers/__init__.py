"""Answers: prompt, LLM providers with an extractive fallback, citations and confidence."""
