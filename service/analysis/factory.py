"""The analyser a deployment uses (ANALYSIS_PROVIDER). The local one loads librosa and numpy
on first use, so nothing that merely imports the queue (the API) pays for them."""

from __future__ import annotations

from service.analysis.base import Analyzer
from service.core.config import Settings


def build_analyzer(settings: Settings) -> Analyzer:
    if settings.analysis.provider == "http":
        from service.analysis.http import HttpAnalyzer

        return HttpAnalyzer(settings)
    from service.analysis.local import LocalAnalyzer

    return LocalAnalyzer(max_seconds=settings.recording.max_seconds)
