"""The `local` analyser: signal analysis of the recording itself, with librosa and pyloudnorm.

It measures what a signal can honestly measure: where notes start (onset detection), how evenly
(timing), how fast (tempo), how loud and how that changes (note levels, LUFS), how long notes
sound against the time to the next one (articulation), how much sound carries across note changes
(sustain), and the spectral balance (brightness). Every other dimension is null with the reason.

Bounded work: the recording is decoded once into a buffer sized by the duration limit, and the
spectral features are computed in 30-second blocks, so peak memory does not grow with the STFT
of the whole recording. Time is linear in the duration.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import librosa
import numpy as np
import numpy.typing as npt
import pyloudnorm

from service.analysis.base import AudioRef
from service.analysis.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from service.analysis.dimensions import BY_NAME, DIMENSIONS, SCORE_RANGE, SCORE_UNIT
from service.analysis.result import (
    AnalysisError,
    AnalysisResult,
    Definition,
    Segment,
    Span,
    Value,
    segment_bounds,
)

NAME = "local"
# Bump the first part when a computation changes: stored results name the version they came from.
VERSION = f"1.0 (librosa {version('librosa')}, pyloudnorm {version('pyloudnorm')})"

SR = ANALYSIS_SAMPLE_RATE
HOP = 256  # 11.6 ms frames: the onset time resolution
BLOCK = (30 * SR // HOP) * HOP  # samples per feature block (a multiple of the hop)
MARGIN = (SR // HOP) * HOP  # context either side of a block, about one second
MIN_GAP = 0.05  # onsets closer than this are one event (a rolled chord, hands a hair apart)
NOTE_END_DB = 20.0  # a note has ended once it is this far below its peak
WINDOW = 2048  # spectra for the sustain measure: 93 ms
# Ratios of an inter-onset interval to the beat a played rhythm is read as (sixteenths to whole
# notes, triplets, dotted values).
RATIOS = np.array([1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1, 3 / 2, 2, 3, 4])
CONTOUR_DB_PER_S = 1.0  # level slopes within +/- this are "steady"
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

Reasoned = tuple[float | None, str | None]


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


# ---- what every number means -------------------------------------------------------------

_MEASURED = {
    "timing_stable_unstable": (
        "Trimmed RMS deviation of the inter-onset intervals from the rhythm they are read as: "
        "each interval is snapped to the nearest of 1/4, 1/3, 1/2, 2/3, 3/4, 1, 3/2, 2, 3 or 4 "
        "beats of the local beat period (a linear fit of the beat period over time, so a gradual "
        "tempo drift is not counted here); the largest 10 % of deviations are dropped. "
        "Score = deviation / 100 ms, capped at 1: 0 is metronomic, 1 is 100 ms or more."
    ),
    "articulation_short_long": (
        "Median over notes of how long each note sounds against the time to the next onset: "
        "the note ends when its RMS level falls 20 dB below its peak (capped at the next onset). "
        "0 = notes end at once (staccatissimo), 1 = each note sounds until the next (legato)."
    ),
    "pedal_sparse_saturated": (
        "How much of a note is still sounding after the next note has started: the energy in the "
        "note's own partials (spectral bins it brought in that the next note doesn't share) "
        "160-250 ms after the next onset, against the same bins just after its own attack, in "
        "dB; median over successive note pairs. Score = (dB + 40) / 30, clipped: damped notes "
        "(-40 dB or less) score 0, notes left ringing (-10 dB or more, sustain pedal) score 1. "
        "Room reverberation also reads as sustain."
    ),
    "timbre_bright_dark": (
        "Median spectral centroid over the frames within 30 dB of the loudest frame, on a "
        "log-frequency scale: 4000 Hz or more scores 0 (bright), 500 Hz or less scores 1 (dark). "
        "Register matters: high passages are brighter."
    ),
    "dynamic_range_little_large": (
        "Spread of the notes' peak RMS levels, 95th minus 5th percentile in dB, over 30 dB "
        "(about pp to ff on a piano), capped at 1."
    ),
    "music_making_fast_slow": (
        "Tempo from the onset-strength autocorrelation (librosa.feature.tempo) on a log scale "
        "between the metronome's ends: 208 BPM or faster scores 0 (fast), 40 BPM or slower 1."
    ),
}
_UNMEASURED = {
    "articulation_soft_hard": "Touch (cushioned or solid) is a judgement of tone quality; the "
    "attack's steepness mostly follows loudness, so the signal doesn't separate it.",
    "pedal_clean_blurred": "Whether pedalling blurs depends on which harmonies overlap; the "
    "analyser measures how much sound carries over (pedal_sparse_saturated), not whether it clashes.",
    "timbre_even_colorful": "Tone-colour variety needs per-note timbre independent of pitch and "
    "loudness, which this signal analysis doesn't separate.",
    "timbre_shallow_rich": "Richness of tone is a perceptual judgement without a reliable "
    "signal measure here.",
    "timbre_soft_loud": "Absolute loudness depends on the microphone's distance and gain, which "
    "the recording doesn't reveal; see loudness_lufs and dynamic_range_little_large for levels.",
    "dynamic_sophisticated_raw": "Whether dynamics are shaped with taste is a musical judgement.",
    "music_making_flat_spacious": "A musical judgement that needs a trained perceptual model.",
    "music_making_disproportioned_balanced": "A musical judgement that needs a trained "
    "perceptual model.",
    "music_making_pure_dramatic": "A musical judgement that needs a trained perceptual model.",
    "emotion_mood_optimistic_dark": "Mood is a listener's judgement; it is not measured from "
    "the signal.",
    "emotion_mood_low_high_energy": "Mood is a listener's judgement; it is not measured from "
    "the signal.",
    "emotion_mood_honest_imaginative": "Mood is a listener's judgement; it is not measured "
    "from the signal.",
    "interpretation_unsatisfactory_convincing": "Whether an interpretation convinces is a "
    "musical judgement.",
}
assert set(_MEASURED) | set(_UNMEASURED) == set(BY_NAME)

CONTOUR_LABELS = ("crescendo", "diminuendo", "steady")
_MEASUREMENTS: tuple[tuple[str, str, tuple[float | None, float | None] | None, str], ...] = (
    ("note_count", "notes", (0, None), "Onsets found by librosa.onset.onset_detect (spectral "
     "flux of a log-mel spectrogram, 11.6 ms frames); onsets within 50 ms count once."),
    ("tempo_bpm", "BPM", (0, None), "librosa.feature.tempo over the whole recording."),
    ("tempo_drift_percent", "%", (None, None), "Change of the fitted beat period's tempo from "
     "the first to the last onset, against the first; positive = speeding up."),
    ("timing_deviation_ms", "ms", (0, None), "The trimmed RMS deviation timing_stable_unstable "
     "is computed from."),
    ("articulation_ratio", "ratio", (0, 1), "The median sounding length over inter-onset "
     "interval articulation_short_long is computed from."),
    ("sustain_carry_db", "dB", (None, 0), "The median carry-over level pedal_sparse_saturated "
     "is computed from."),
    ("dynamic_range_db", "dB", (0, None), "95th minus 5th percentile of the notes' peak RMS "
     "levels."),
    ("dynamic_contour_db_per_s", "dB/s", (None, None), "Slope of a least-squares line through "
     "the notes' peak levels over time."),
    ("dynamic_contour", "label", None, f"crescendo above +{CONTOUR_DB_PER_S:g} dB/s, diminuendo "
     f"below -{CONTOUR_DB_PER_S:g} dB/s, otherwise steady."),
    ("loudness_lufs", "LUFS", (None, 0), "Integrated loudness, ITU-R BS.1770-4 (pyloudnorm), "
     "relative to digital full scale: it depends on the recording level."),
    ("spectral_centroid_hz", "Hz", (0, None), "The median centroid timbre_bright_dark is "
     "computed from."),
)  # fmt: skip


def definitions() -> list[Definition]:
    dims = [
        Definition(
            d.name,
            "dimension",
            SCORE_UNIT,
            SCORE_RANGE,
            _MEASURED.get(d.name),
            low=d.low,
            high=d.high,
            reason=_UNMEASURED.get(d.name),
        )
        for d in DIMENSIONS
    ]
    measurements = [
        Definition(
            name, "measurement", unit, rng, text, labels=CONTOUR_LABELS if rng is None else ()
        )
        for name, unit, rng, text in _MEASUREMENTS
    ]
    return dims + measurements


# ---- frame features, block by block -------------------------------------------------------


@dataclass(frozen=True)
class Frames:
    onset_env: F32
    rms_db: F32
    centroid: F32

    def time(self, frame: int) -> float:
        return frame * HOP / SR

    def frame(self, seconds: float) -> int:
        return round(seconds * SR / HOP)


def frame_features(y: F32) -> Frames:
    """Onset strength, RMS level (dBFS) and spectral centroid per 11.6 ms frame, computed in
    30-second blocks with a second of context each side (frame k is centred at sample k*HOP)."""
    total = len(y) // HOP + 1
    env, rms, centroid = (np.zeros(total, np.float32) for _ in range(3))
    for start in range(0, len(y), BLOCK):
        lo, hi = max(0, start - MARGIN), min(len(y), start + BLOCK + MARGIN)
        part = y[lo:hi]
        first = start // HOP
        skip = (start - lo) // HOP
        count = min(BLOCK // HOP, total - first)
        pieces = (
            librosa.onset.onset_strength(y=part, sr=SR, hop_length=HOP),
            librosa.feature.rms(y=part, frame_length=1024, hop_length=HOP)[0],
            librosa.feature.spectral_centroid(y=part, sr=SR, n_fft=2048, hop_length=HOP)[0],
        )
        for target, values in zip((env, rms, centroid), pieces, strict=True):
            chunk = values[skip : skip + count]
            target[first : first + len(chunk)] = chunk
    rms_db = (20 * np.log10(np.maximum(rms, 1e-6))).astype(np.float32)
    return Frames(env, rms_db, centroid)


def detect_onsets(frames: Frames) -> npt.NDArray[np.int64]:
    if not np.any(frames.onset_env > 0):
        return np.array([], dtype=np.int64)
    return np.asarray(
        librosa.onset.onset_detect(
            onset_envelope=frames.onset_env,
            sr=SR,
            hop_length=HOP,
            units="frames",
            wait=math.ceil(MIN_GAP * SR / HOP),
        ),
        dtype=np.int64,
    )


# ---- per-note facts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Notes:
    """What is known per detected note (index i: the i-th onset)."""

    onsets: F64  # seconds
    peaks_db: F64  # peak RMS level in the first 100 ms (or until the next onset)
    articulation: F64  # sounding length / inter-onset interval; NaN for the last note
    carry_db: F64  # sustain carried past the next onset; NaN where it can't be measured


def _spectrum(y: F32, at: float) -> F64 | None:
    start = round(at * SR)
    if start < 0 or start + WINDOW > len(y):
        return None
    segment = y[start : start + WINDOW].astype(np.float64) * np.hanning(WINDOW)
    return np.asarray(np.abs(np.fft.rfft(segment)) ** 2)


def _dilate(mask: npt.NDArray[np.bool_], width: int = 2) -> npt.NDArray[np.bool_]:
    out = mask.copy()
    for shift in range(1, width + 1):
        out[shift:] |= mask[:-shift]
        out[:-shift] |= mask[shift:]
    return out


def _carry_db(y: F32, onsets: F64, i: int) -> float:
    """dB of note i's own partials left 160 ms after note i+1 starts (NaN: not measurable)."""
    t_i, t_j = onsets[i], onsets[i + 1]
    t_next = onsets[i + 2] if i + 2 < len(onsets) else len(y) / SR
    previous = onsets[i - 1] if i > 0 else -math.inf
    if t_j - t_i < 0.12 or t_next - t_j < 0.26 or t_i - 0.1 < max(previous, 0.0):
        return math.nan
    before_i, attack_i = _spectrum(y, t_i - 0.1), _spectrum(y, t_i + 0.02)
    before_j, attack_j = _spectrum(y, t_j - 0.1), _spectrum(y, t_j + 0.02)
    later = _spectrum(y, t_j + 0.16)
    if any(s is None for s in (before_i, attack_i, before_j, attack_j, later)):
        return math.nan
    assert before_i is not None and attack_i is not None and before_j is not None
    assert attack_j is not None and later is not None
    own = (attack_i > 10 * before_i) & (attack_i > attack_i.max() * 1e-3)
    theirs = _dilate(attack_j > 4 * before_j)
    carried = own & ~theirs
    if carried.sum() < 2:
        return math.nan
    return float(10 * np.log10(max(later[carried].sum(), 1e-20) / attack_i[carried].sum()))


def note_facts(y: F32, frames: Frames, onset_frames: npt.NDArray[np.int64]) -> Notes:
    onsets = onset_frames.astype(np.float64) * HOP / SR
    n = len(onsets)
    peaks, articulation, carry = (np.full(n, np.nan) for _ in range(3))
    last_frame = len(frames.rms_db)
    for i, f in enumerate(onset_frames):
        end = int(onset_frames[i + 1]) if i + 1 < n else last_frame
        window = frames.rms_db[f : max(f + 1, min(end, f + frames.frame(0.1)))]
        peak_at = f + int(np.argmax(window))
        peaks[i] = float(window.max())
        if i + 1 < n:
            ioi = onsets[i + 1] - onsets[i]
            below = np.nonzero(frames.rms_db[peak_at:end] < peaks[i] - NOTE_END_DB)[0]
            length = frames.time(peak_at + int(below[0]) - int(f)) if len(below) else ioi
            articulation[i] = min(1.0, length / ioi)
            carry[i] = _carry_db(y, onsets, i)
    return Notes(onsets, peaks, articulation, carry)


# ---- the measures, for any stretch of notes ----------------------------------------------


def timing(onsets: F64, beat: float) -> tuple[Reasoned, float | None]:
    """(trimmed RMS deviation in ms, reason if none), tempo drift in % (None if unknown)."""
    if len(onsets) < 3:
        return (None, "Fewer than 3 note onsets, so there is no interval to compare."), None
    iois = np.diff(onsets)
    mids = onsets[:-1] + iois / 2
    ratios = RATIOS[np.argmin(np.abs(np.log(iois[:, None] / beat / RATIOS[None, :])), axis=1)]
    periods = iois / ratios
    if len(iois) >= 4:
        slope, intercept = np.polyfit(mids, periods, 1)
        fitted = intercept + slope * mids
        first, last = intercept + slope * onsets[0], intercept + slope * onsets[-1]
        drift = float((first / last - 1) * 100) if last > 0 else None
    else:
        fitted, drift = np.full_like(periods, np.median(periods)), None
    deviations = np.sort(np.abs(iois - ratios * fitted))
    kept = deviations[: max(2, math.ceil(0.9 * len(deviations)))]
    return (float(np.sqrt(np.mean(kept**2)) * 1000), None), drift


def _median(values: F64, what: str, minimum: int = 2) -> Reasoned:
    finite = values[np.isfinite(values)]
    if len(finite) < minimum:
        return None, f"Fewer than {minimum} notes where {what} can be measured."
    return float(np.median(finite)), None


def dynamics(onsets: F64, peaks: F64) -> tuple[Reasoned, Reasoned]:
    """(dynamic range dB, reason), (contour slope dB/s, reason)."""
    if len(peaks) < 3:
        reason = "Fewer than 3 notes, too few to compare levels."
        return (None, reason), (None, reason)
    spread = float(np.percentile(peaks, 95) - np.percentile(peaks, 5))
    if np.ptp(onsets) < 0.5:
        return (spread, None), (None, "The notes span less than half a second.")
    slope = float(np.polyfit(onsets, peaks, 1)[0])
    return (spread, None), (slope, None)


TEMPO_WINDOW = 8.0  # librosa's default autocorrelation window, seconds
TEMPO_BLOCK = 2048  # tempogram columns computed at once


def estimate_tempo(env: F32) -> float:
    """librosa.feature.tempo over the whole recording, with its tempogram averaged block by
    block: the full tempogram (one 8-second autocorrelation per 11.6 ms frame) of a 15-minute
    recording would need gigabytes, its mean needs one column."""
    win = int(librosa.time_to_frames(TEMPO_WINDOW, sr=SR, hop_length=HOP))
    total = np.zeros(win, dtype=np.float64)
    half = win // 2 + 1
    for start in range(0, len(env), TEMPO_BLOCK):
        lo, hi = max(0, start - half), min(len(env), start + TEMPO_BLOCK + half)
        tg = librosa.feature.tempogram(
            onset_envelope=env[lo:hi], sr=SR, hop_length=HOP, win_length=win
        )
        keep = tg[:, start - lo : start - lo + min(TEMPO_BLOCK, len(env) - start)]
        total += keep.sum(axis=1)
    mean = (total / len(env))[:, np.newaxis]
    return float(librosa.feature.tempo(tg=mean, sr=SR, hop_length=HOP)[0])


def contour_label(slope: float | None) -> str | None:
    if slope is None:
        return None
    if slope > CONTOUR_DB_PER_S:
        return "crescendo"
    if slope < -CONTOUR_DB_PER_S:
        return "diminuendo"
    return "steady"


def loudness(y: F32) -> float | None:
    if len(y) < int(0.4 * SR):
        return None
    # float32 in: pyloudnorm filters a copy of its input in its own dtype, so a float64 copy
    # would double the memory of the longest recordings for no audible difference.
    value = pyloudnorm.Meter(SR).integrated_loudness(y)
    return float(value) if math.isfinite(value) else None


def brightness(frames: Frames, lo: int, hi: int) -> Reasoned:
    levels = frames.rms_db[lo:hi]
    if len(levels) == 0 or levels.max() < -70:
        return None, "No sound loud enough to judge the spectrum."
    loud = levels > frames.rms_db.max() - 30
    if not loud.any():
        return None, "No sound within 30 dB of the recording's loudest moment."
    return float(np.median(frames.centroid[lo:hi][loud])), None


# ---- from measures to scores -------------------------------------------------------------

_TO_SCORE: dict[str, tuple[str, Callable[[float], float]]] = {
    "timing_stable_unstable": ("timing_deviation_ms", lambda ms: _clip01(ms / 100)),
    "articulation_short_long": ("articulation_ratio", _clip01),
    "pedal_sparse_saturated": ("sustain_carry_db", lambda db: _clip01((db + 40) / 30)),
    "timbre_bright_dark": (
        "spectral_centroid_hz",
        lambda hz: _clip01(math.log(4000 / hz) / math.log(4000 / 500)),
    ),
    "dynamic_range_little_large": ("dynamic_range_db", lambda db: _clip01(db / 30)),
    "music_making_fast_slow": (
        "tempo_bpm",
        lambda bpm: _clip01(math.log(208 / bpm) / math.log(208 / 40)),
    ),
}


def _span(measured: dict[str, Reasoned], extra: dict[str, Value]) -> Span:
    scores: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for dim in DIMENSIONS:
        if dim.name in _UNMEASURED:
            scores[dim.name], reasons[dim.name] = None, _UNMEASURED[dim.name]
            continue
        source, to_score = _TO_SCORE[dim.name]
        value, reason = measured.get(source, (None, "Not measured for this stretch."))
        scores[dim.name] = None if value is None else round(to_score(value), 4)
        if value is None:
            reasons[dim.name] = reason or "Not measurable here."
    measurements: dict[str, Value] = {
        name: None if value is None else round(value, 3) for name, (value, _) in measured.items()
    }
    return Span(scores, reasons, measurements | extra)


def _measure(
    y: F32, frames: Frames, notes: Notes, lo: int, hi: int, beat: float | None
) -> tuple[dict[str, Reasoned], float | None]:
    """Every measure over the notes whose onsets fall in [lo, hi) (indices) and the frames
    between them."""
    onsets = notes.onsets[lo:hi]
    measured: dict[str, Reasoned] = {"note_count": (float(len(onsets)), None)}
    if beat is None:
        measured["timing_deviation_ms"] = (None, "No tempo could be found.")
        drift = None
    else:
        measured["timing_deviation_ms"], drift = timing(onsets, beat)
    measured["articulation_ratio"] = _median(
        notes.articulation[lo:hi], "note length against the next onset"
    )
    measured["sustain_carry_db"] = _median(
        notes.carry_db[lo:hi],
        "sound carried past the next note (distinct pitches, 0.26 s apart)",
        1,
    )
    measured["dynamic_range_db"], slope = dynamics(onsets, notes.peaks_db[lo:hi])
    measured["dynamic_contour_db_per_s"] = slope
    return measured, drift


def analyse_samples(y: F32, *, duration: float) -> tuple[Span, list[Segment]]:
    frames = frame_features(y)
    onset_frames = detect_onsets(frames)
    notes = note_facts(y, frames, onset_frames)
    tempo = estimate_tempo(frames.onset_env) if len(onset_frames) >= 4 else None
    beat = 60 / tempo if tempo else None

    measured, drift = _measure(y, frames, notes, 0, len(notes.onsets), beat)
    measured["tempo_bpm"] = (tempo, None if tempo else "Fewer than 4 onsets; no tempo.")
    measured["tempo_drift_percent"] = (drift, None if drift is not None else "Too few onsets.")
    measured["spectral_centroid_hz"] = brightness(frames, 0, len(frames.rms_db))
    measured["loudness_lufs"] = (loudness(y), None)
    overall = _span(
        measured, {"dynamic_contour": contour_label(measured["dynamic_contour_db_per_s"][0])}
    )

    segments = []
    for start, end in segment_bounds(duration):
        lo, hi = np.searchsorted(notes.onsets, [start, end])
        part, _ = _measure(y, frames, notes, int(lo), int(hi), beat)
        part["tempo_bpm"] = (None, "Tempo is estimated over the whole recording; 3 s is too short.")
        part["spectral_centroid_hz"] = brightness(frames, frames.frame(start), frames.frame(end))
        part["loudness_lufs"] = (loudness(y[round(start * SR) : round(end * SR)]), None)
        span = _span(part, {"dynamic_contour": contour_label(part["dynamic_contour_db_per_s"][0])})
        segments.append(Segment(span.scores, span.reasons, span.measurements, start, end))
    return overall, segments


class LocalAnalyzer:
    name = NAME
    version = VERSION

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds

    async def analyze(self, audio: AudioRef) -> AnalysisResult:
        with tempfile.TemporaryDirectory(prefix="analysis-") as tmp:
            path = Path(tmp) / f"audio.{audio.format}"
            await asyncio.to_thread(audio.download, path)
            # CPU-bound (numpy and FFmpeg release the GIL for most of it): off the event loop,
            # so the worker's heartbeats and other jobs go on.
            return await asyncio.to_thread(self.analyse_file, path, audio.format)

    def analyse_file(self, path: Path, fmt: str) -> AnalysisResult:
        y = decode_mono(path, fmt, max_seconds=self.max_seconds)
        duration = len(y) / SR
        if not np.any(np.abs(y) > 1e-4):
            raise AnalysisError("audio_silent", "The recording is silent.")
        overall, segments = analyse_samples(y, duration=duration)
        return AnalysisResult(
            analyzer=self.name,
            analyzer_version=self.version,
            duration_seconds=round(duration, 3),
            overall=overall,
            segments=segments,
            definitions=definitions(),
        )

    async def aclose(self) -> None:
        return None
