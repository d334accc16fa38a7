"""Three RAG cache layers (query embeddings, search results, answers) over a pluggable backend."""
