"""The Prometheus text exposition, merged across worker processes in multi-process mode."""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> bytes:
    """Merge all worker processes' files in multi-process mode, else the in-process registry."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def mark_process_dead(pid: int) -> None:
    """Call from the process manager's child-exit hook so ``live*`` gauges drop the dead worker."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
