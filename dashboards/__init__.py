"""Monitoring as code: Grafana dashboard generator, Prometheus rules and their tests."""
