"""What every analyser is given and what it must do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from uuid import UUID

from service.analysis.result import AnalysisResult


@dataclass(frozen=True)
class AudioRef:
    """One stored recording, as an analyser reaches it."""

    recording_id: UUID
    format: str  # wav, mp3, m4a (decided by magic bytes at upload)
    content_type: str
    duration_seconds: float
    sample_rate: int
    channels: int
    presign: Callable[[int], str]  # a GET URL valid for that many seconds (no I/O)
    download: Callable[[Path], None]  # blocking: writes the object to the path


class Analyzer(Protocol):
    name: str
    version: str

    async def analyze(self, audio: AudioRef) -> AnalysisResult:
        """Raises AnalysisError with a message for the recording's owner."""
        ...

    async def aclose(self) -> None: ...
