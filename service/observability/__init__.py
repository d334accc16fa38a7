"""Prometheus metrics, their exposition and the samplers that feed gauges.

The HTTP side lives with the rest of it: the endpoint in service/api/metrics.py, the request
middleware in service/core/http_metrics.py.
"""
