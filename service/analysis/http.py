"""The `http` analyser: the external perceptual model service, over a documented JSON contract.

Request: `POST {ANALYSIS_HTTP_URL}/analyze` with `Authorization: Bearer {ANALYSIS_HTTP_TOKEN}`
(when set) and

    {"recording_id": "<uuid>",
     "audio_url": "<presigned GET URL of the stored file>",
     "audio_url_expires_in": 720,
     "format": "wav" | "mp3" | "m4a", "content_type": "audio/wav",
     "duration_seconds": 12.5, "sample_rate": 44100, "channels": 2,
     "segment_seconds": 3.0,
     "dimensions": ["timing_stable_unstable", ...]}

Answer 200 with

    {"model": {"name": "<model>", "version": "<version>"},
     "scores": {"timing_stable_unstable": 0.31, "pedal_clean_blurred": null, ...},
     "reasons": {"pedal_clean_blurred": "<why it is null>"},
     "segments": [{"start_seconds": 0.0, "end_seconds": 3.0,
                   "scores": {...}, "reasons": {...}}, ...]}

Scores are in [0, 1] with 0 at the dimension's first pole (service/analysis/dimensions.py) or
null; names outside the catalogue are a contract violation. A dimension left out is reported as
not scored. Segments are ordered, non-overlapping and within the recording. The service fetches
the audio itself, so the URL must outlive every attempt.

Transport: ANALYSIS_TIMEOUT_SECONDS per attempt; 429, 5xx and network errors are retried
(ANALYSIS_MAX_ATTEMPTS, exponential backoff from ANALYSIS_BACKOFF_SECONDS, Retry-After
honoured); another 4xx or an answer that breaks the contract fails the analysis at once.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.analysis.base import AudioRef
from service.analysis.dimensions import BY_NAME, DIMENSIONS, NAMES, SCORE_RANGE, SCORE_UNIT
from service.analysis.result import (
    SEGMENT_SECONDS,
    AnalysisError,
    AnalysisResult,
    Definition,
    Segment,
    Span,
)
from service.core.config import Settings
from service.providers.http import HttpProvider, ProviderError, bearer
from service.providers.retry import RetryPolicy

NAME = "http"
NOT_SCORED = "The model service did not score this dimension."


class _Model(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)


def _check_scores(scores: dict[str, float | None]) -> dict[str, float | None]:
    unknown = sorted(set(scores) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown dimensions {unknown}")
    for name, value in scores.items():
        if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"{name} = {value} is outside [0, 1]")
    return scores


class _Scored(BaseModel):
    model_config = ConfigDict(extra="ignore")
    scores: dict[str, float | None]
    reasons: dict[str, str] = Field(default_factory=dict)

    _valid_scores = field_validator("scores")(_check_scores)


class _Segment(_Scored):
    start_seconds: float = Field(ge=0)
    end_seconds: float = Field(gt=0)


class _Answer(_Scored):
    model: _Model
    segments: list[_Segment] = Field(default_factory=list)


def _span(scored: _Scored) -> Span:
    scores = {name: scored.scores.get(name) for name in NAMES}
    reasons = {
        name: scored.reasons.get(name) or NOT_SCORED for name in NAMES if scores[name] is None
    }
    return Span(scores, reasons)


class HttpAnalyzer(HttpProvider):
    name = NAME

    def __init__(self, settings: Settings) -> None:
        config = settings.analysis
        super().__init__(
            url=config.http_url.rstrip("/") + "/analyze",
            headers=bearer(config.http_token.get_secret_value()),
            timeout=config.timeout_seconds,
            retry=RetryPolicy(attempts=config.max_attempts, backoff_seconds=config.backoff_seconds),
            label="analysis model service",
        )
        # Long enough for every attempt and its backoff, with a margin for the download.
        self.url_ttl = int(config.max_attempts * (config.timeout_seconds + 30) + 60)
        self.version = "contract 1"

    def request(self, audio: AudioRef) -> dict[str, Any]:
        return {
            "recording_id": str(audio.recording_id),
            "audio_url": audio.presign(self.url_ttl),
            "audio_url_expires_in": self.url_ttl,
            "format": audio.format,
            "content_type": audio.content_type,
            "duration_seconds": audio.duration_seconds,
            "sample_rate": audio.sample_rate,
            "channels": audio.channels,
            "segment_seconds": SEGMENT_SECONDS,
            "dimensions": list(NAMES),
        }

    async def analyze(self, audio: AudioRef) -> AnalysisResult:
        try:
            raw = await self.post_json(self.request(audio))
        except ProviderError as exc:
            raise AnalysisError("analysis_service_failed", str(exc)) from exc
        except ValueError as exc:  # the body wasn't JSON
            raise AnalysisError(
                "analysis_service_bad_answer", "The model service's answer is not JSON."
            ) from exc
        try:
            answer = _Answer.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise AnalysisError(
                "analysis_service_bad_answer",
                f"The model service's answer breaks the contract at {where}: {first['msg']}",
            ) from exc
        segments = self._segments(answer.segments, audio.duration_seconds)
        label = f"{answer.model.name} {answer.model.version}"
        return AnalysisResult(
            analyzer=f"{NAME}/{answer.model.name}",
            analyzer_version=answer.model.version,
            duration_seconds=audio.duration_seconds,
            overall=_span(answer),
            segments=segments,
            definitions=[
                Definition(
                    d.name,
                    "dimension",
                    SCORE_UNIT,
                    SCORE_RANGE,
                    f"Scored by the external model service ({label}), trained on perceptual "
                    "ratings of piano performances.",
                    low=d.low,
                    high=d.high,
                )
                for d in DIMENSIONS
            ],
        )

    @staticmethod
    def _segments(raw: list[_Segment], duration: float) -> list[Segment]:
        out: list[Segment] = []
        previous_end = 0.0
        for item in raw:
            if item.start_seconds < previous_end - 1e-6 or item.end_seconds <= item.start_seconds:
                raise AnalysisError(
                    "analysis_service_bad_answer",
                    "The model service's segments overlap or are out of order.",
                )
            if item.end_seconds > duration + 1.0:
                raise AnalysisError(
                    "analysis_service_bad_answer",
                    "The model service returned segments beyond the end of the recording.",
                )
            span = _span(item)
            out.append(
                Segment(
                    span.scores,
                    span.reasons,
                    {},
                    item.start_seconds,
                    min(item.end_seconds, duration),
                )
            )
            previous_end = item.end_seconds
        return out
