"""The local analyser on synthetic piano takes whose truth is known (devtools/audio_synth.py):
each property measured the same way from WAV, MP3 and M4A encodings of the same audio."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from devtools import audio_synth
from service.analysis.dimensions import NAMES
from service.analysis.local import LocalAnalyzer
from service.analysis.result import AnalysisError, AnalysisResult
from tests.recordings.conftest import Takes

FORMATS = audio_synth.FORMATS


@pytest.fixture(scope="session")
def analysed(
    takes: Takes, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], AnalysisResult]:
    """Results computed once per (take, format) and shared by the tests below."""
    cache: dict[tuple[str, str], AnalysisResult] = {}
    analyzer = LocalAnalyzer(max_seconds=900)
    folder = tmp_path_factory.mktemp("takes")

    class Results(dict[tuple[str, str], AnalysisResult]):
        def __missing__(self, key: tuple[str, str]) -> AnalysisResult:
            take, fmt = key
            path = folder / f"{take}.{fmt}"
            path.write_bytes(takes[take, fmt])
            cache[key] = self[key] = analyzer.analyse_file(path, fmt)
            return cache[key]

    return Results()


def score(result: AnalysisResult, name: str) -> float:
    value = result.overall.scores[name]
    assert value is not None, result.overall.reasons.get(name)
    return value


def measured(result: AnalysisResult, name: str) -> float:
    value = result.overall.measurements[name]
    assert isinstance(value, float), (name, value)
    return value


@pytest.mark.parametrize("fmt", FORMATS)
def test_notes_and_tempo_are_found(
    analysed: dict[tuple[str, str], AnalysisResult], fmt: str
) -> None:
    steady = analysed["steady", fmt]
    assert measured(steady, "note_count") == 16
    assert measured(steady, "tempo_bpm") == pytest.approx(120, abs=3)
    assert abs(measured(steady, "tempo_drift_percent")) < 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_steady_timing_scores_more_stable_than_60ms_jitter(
    analysed: dict[tuple[str, str], AnalysisResult], fmt: str
) -> None:
    steady, jittered = analysed["steady", fmt], analysed["jittered", fmt]
    assert score(steady, "timing_stable_unstable") < 0.1
    assert score(jittered, "timing_stable_unstable") > 0.2
    assert score(jittered, "timing_stable_unstable") > 3 * score(steady, "timing_stable_unstable")
    assert measured(steady, "timing_deviation_ms") < 10
    # +/-60 ms uniform onset jitter: inter-onset intervals deviate by about 49 ms RMS; snapping
    # to rhythmic ratios and trimming the worst 10 % hide some of it.
    assert 20 < measured(jittered, "timing_deviation_ms") < 60


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_swell_from_pp_to_ff_shows_a_rising_dynamic_contour(
    analysed: dict[tuple[str, str], AnalysisResult], fmt: str
) -> None:
    swell, steady = analysed["swell", fmt], analysed["steady", fmt]
    assert swell.overall.measurements["dynamic_contour"] == "crescendo"
    assert measured(swell, "dynamic_contour_db_per_s") > 1.0
    assert steady.overall.measurements["dynamic_contour"] == "steady"
    full = [s for s in swell.segments if s.end - s.start == 3.0]
    assert len(full) >= 3
    assert all(s.measurements["dynamic_contour"] == "crescendo" for s in full)
    measured_levels = [s.measurements["loudness_lufs"] for s in full]
    levels = [v for v in measured_levels if isinstance(v, float)]
    assert len(levels) == len(full)
    assert levels == sorted(levels) and levels[-1] - levels[0] > 10, levels
    assert score(swell, "dynamic_range_little_large") > 0.5
    assert score(steady, "dynamic_range_little_large") < 0.1


@pytest.mark.parametrize("fmt", FORMATS)
def test_staccato_scores_shorter_than_legato(
    analysed: dict[tuple[str, str], AnalysisResult], fmt: str
) -> None:
    staccato, legato = analysed["staccato", fmt], analysed["legato", fmt]
    assert score(staccato, "articulation_short_long") < 0.5
    assert score(legato, "articulation_short_long") > 0.9
    # Held for a quarter of each beat, then damped: the sound lasts about a third of it.
    assert measured(staccato, "articulation_ratio") == pytest.approx(0.33, abs=0.1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_pedalled_notes_carry_over_and_dampened_ones_do_not(
    analysed: dict[tuple[str, str], AnalysisResult], fmt: str
) -> None:
    pedal, legato = analysed["pedal", fmt], analysed["legato", fmt]
    # Both legato: articulation can't tell them apart, the carried-over partials can.
    assert score(pedal, "articulation_short_long") > 0.9
    assert score(pedal, "pedal_sparse_saturated") > 0.8
    assert score(legato, "pedal_sparse_saturated") < 0.2
    assert score(analysed["staccato", fmt], "pedal_sparse_saturated") < 0.2


@pytest.mark.parametrize("fmt", FORMATS)
def test_segments_are_three_seconds_with_per_segment_scores(
    analysed: dict[tuple[str, str], AnalysisResult], fmt: str
) -> None:
    result = analysed["jittered", fmt]
    labels = [s.label for s in result.segments]
    assert labels[:2] == ["0:00-0:03", "0:03-0:06"]
    # About 9.5 s: the half second left over joins the last segment rather than standing alone.
    assert len(labels) == 3 and labels[2].startswith("0:06-")
    assert result.segments[-1].end == pytest.approx(result.duration_seconds, abs=1e-3)
    middle = result.segments[1]
    assert set(middle.scores) == set(NAMES)
    assert middle.scores["timing_stable_unstable"] is not None
    assert middle.scores["articulation_short_long"] is not None
    # Tempo needs more than 3 s: null, with the reason, never a number made up for it.
    assert middle.scores["music_making_fast_slow"] is None
    assert "3 s" in middle.reasons["music_making_fast_slow"]


def test_every_score_is_documented_and_nulls_have_reasons(
    analysed: dict[tuple[str, str], AnalysisResult],
) -> None:
    result = analysed["steady", "wav"]
    assert set(result.overall.scores) == set(NAMES)
    definitions = {d.name: d for d in result.definitions}
    for name in NAMES:
        d = definitions[name]
        assert d.unit == "score" and d.range == (0.0, 1.0) and d.low and d.high
        value = result.overall.scores[name]
        if value is None:
            assert result.overall.reasons[name]
            assert d.computation is None and d.reason
        else:
            assert 0 <= value <= 1 and d.computation
    for name, measure in result.overall.measurements.items():
        assert name in definitions and definitions[name].kind == "measurement"
        assert measure is None or isinstance(measure, str) or math.isfinite(measure)
    measured_dims = {n for n in NAMES if result.overall.scores[n] is not None}
    assert measured_dims == {
        "timing_stable_unstable",
        "articulation_short_long",
        "pedal_sparse_saturated",
        "timbre_bright_dark",
        "dynamic_range_little_large",
        "music_making_fast_slow",
    }


def test_the_duration_limit_bounds_the_decode(takes: Takes, tmp_path: Path) -> None:
    path = tmp_path / "steady.mp3"
    path.write_bytes(takes["steady", "mp3"])
    with pytest.raises(AnalysisError) as refused:
        LocalAnalyzer(max_seconds=5).analyse_file(path, "mp3")
    assert refused.value.code == "recording_too_long"


def test_silence_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    path.write_bytes(audio_synth.encode(np.zeros(44100 * 3, dtype=np.float32), "wav"))
    with pytest.raises(AnalysisError) as refused:
        LocalAnalyzer(max_seconds=60).analyse_file(path, "wav")
    assert refused.value.code == "audio_silent"


@pytest.mark.parametrize(
    ("duration", "labels"),
    [
        (6.0, ["0:00-0:03", "0:03-0:06"]),
        (7.5, ["0:00-0:03", "0:03-0:06", "0:06-0:08"]),
        (6.4, ["0:00-0:03", "0:03-0:07"]),  # a last piece under a second joins the one before
        (62.5, [*(f"0:{s:02d}-0:{s + 3:02d}" for s in range(0, 57, 3)), "0:57-1:00", "1:00-1:03"]),
    ],
)
def test_segment_bounds_and_labels(duration: float, labels: list[str]) -> None:
    from service.analysis.result import segment_bounds, segment_label

    assert [segment_label(a, b) for a, b in segment_bounds(duration)] == labels
