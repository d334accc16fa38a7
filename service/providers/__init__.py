"""What every remote model provider shares (LLMs, embeddings, re-ranking): one HTTP base class.

`HttpProvider` owns the pooled client, the timeouts and the retry policy; each provider family
(`service.answers.providers`, `service.embeddings`, `service.search.rerank`) adds only its wire
format on top.
"""
