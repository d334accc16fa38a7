"""Prometheus metrics, the /api/metrics endpoint and the samplers that feed gauges."""
