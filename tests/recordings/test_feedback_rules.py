"""The feedback report's pure rules: judging scores, fitting the plan, validating model prose."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from service.feedback.catalogue import BY_DIMENSION
from service.feedback.findings import findings
from service.feedback.plan import INJURY_BLOCK_MINUTES, Constraints, practice_plan, start_tempo
from service.feedback.writer import ProseRejected, parse
from service.repositories.recordings import AnalysisRow

TIMING, ARTICULATION, DYNAMICS = (
    "timing_stable_unstable",
    "articulation_short_long",
    "dynamic_range_little_large",
)


def analysis(
    scores: dict[str, float | None], segments: list[dict[str, Any]] | None = None
) -> AnalysisRow:
    return AnalysisRow(
        recording_id=uuid4(),
        analyzer="local",
        analyzer_version="1.0",
        duration_seconds=9.0,
        segment_seconds=3.0,
        scores=scores,
        reasons={},
        measurements={"note_count": 16, "tempo_bpm": 120.0},
        segments=segments or [],
        definitions={},
        created_at=datetime.now(UTC),
    )


def test_only_judged_dimensions_become_findings_and_the_worst_leads() -> None:
    row = analysis(
        {
            TIMING: 0.32,
            ARTICULATION: 0.35,
            DYNAMICS: 0.9,
            "timbre_bright_dark": 0.99,  # a choice, not a fault: never judged
            "emotion_mood_optimistic_dark": None,
        },
        segments=[
            {"label": "0:00-0:03", "scores": {TIMING: 0.25, ARTICULATION: 0.4}},
            {"label": "0:03-0:06", "scores": {TIMING: 0.05, ARTICULATION: 0.3}},
            {"label": "0:06-0:09", "scores": {TIMING: 0.5, ARTICULATION: None}},
        ],
    )
    found = findings(row)
    assert [f.dimension for f in found.focus] == [TIMING, ARTICULATION]
    assert found.focus[0].segments == ("0:06-0:09", "0:00-0:03")  # worst first, only past it
    assert found.focus[1].segments == ("0:03-0:06", "0:00-0:03")
    assert [f.dimension for f in found.strengths] == [DYNAMICS]
    assert "emotion_mood_optimistic_dark" in found.unmeasured
    assert "timbre_bright_dark" in found.measured


@pytest.mark.parametrize("minutes", [0, 1, 2, 5, 9, 10, 15, 20, 30, 45, 60, 95, 600])
@pytest.mark.parametrize("takes", [0, 1, 3])
def test_the_plan_adds_up_to_the_stated_minutes(minutes: int, takes: int) -> None:
    focus = findings(analysis({TIMING: 0.4, ARTICULATION: 0.2, DYNAMICS: 0.05})).focus[:takes]
    plan = practice_plan(
        focus, minutes=minutes, default_minutes=20, level=None, constraints="", tempo_bpm=120
    )
    assert sum(i.minutes for i in plan.items) == minutes == plan.minutes_per_day
    assert all(i.minutes > 0 for i in plan.items)
    if minutes >= 10 and takes:
        assert {i.dimension for i in plan.items} >= {focus[0].dimension}
        assert plan.items[0].title == "Warm-up"
    if minutes >= 3 and not takes:
        assert plan.items[-1].title == "Run-through"


def test_unstated_minutes_use_the_default_and_say_so() -> None:
    plan = practice_plan(
        (), minutes=None, default_minutes=25, level=None, constraints="", tempo_bpm=None
    )
    assert plan.minutes_assumed and plan.minutes_per_day == 25
    assert sum(i.minutes for i in plan.items) == 25


def test_constraints_adapt_the_plan() -> None:
    focus = findings(analysis({TIMING: 0.4, "pedal_sparse_saturated": 1.0})).focus
    assert {f.dimension for f in focus} == {TIMING, "pedal_sparse_saturated"}
    plan = practice_plan(
        focus,
        minutes=60,
        default_minutes=20,
        level="advanced",
        constraints="Digital piano without pedal, no metronome; tendonitis in my right wrist",
        tempo_bpm=150,
    )
    assert len(plan.adapted_for) == 3
    assert sum(i.minutes for i in plan.items) == 60
    assert all(i.minutes <= INJURY_BLOCK_MINUTES for i in plan.items)
    assert not any(
        BY_DIMENSION["pedal_sparse_saturated"].exercises[0].title in i.title for i in plan.items
    )
    assert all("metronome to" not in i.instructions for i in plan.items)
    assert all("Stop at any discomfort" in i.instructions for i in plan.items)
    # The pedal focus still gets its pedal-free exercise.
    assert any(i.dimension == "pedal_sparse_saturated" for i in plan.items)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (False, False, False)),
        ("I don't have a metronome", (True, False, False)),
        ("keyboard with no sustain pedal", (False, True, False)),
        ("Wrist pain after 20 minutes", (False, False, True)),
        ("the pedal squeaks; my metronome is loud", (False, False, False)),
    ],
)
def test_constraints_are_read_conservatively(text: str, expected: tuple[bool, bool, bool]) -> None:
    c = Constraints.read(text)
    assert (c.no_metronome, c.no_pedal, c.injury) == expected


@pytest.mark.parametrize(
    ("tempo", "level", "bpm"),
    [
        (120, "beginner", 72),
        (120, None, 84),
        (120, "professional", 102),
        (30, None, 40),
        (None, None, 70),
    ],
)
def test_the_starting_tempo_follows_the_measured_one_and_the_level(
    tempo: float | None, level: str | None, bpm: int
) -> None:
    assert start_tempo(tempo, level) == bpm


def test_model_prose_is_validated() -> None:
    ok = parse(
        '```json\n{"summary": "A clear and steady take overall [1].", '
        '"focus_areas": {"timing_stable_unstable": "Steady the pulse [2]."}}\n```',
        {TIMING},
        set(),
    )
    assert ok.summary == "A clear and steady take overall."
    assert ok.focus_areas == {TIMING: "Steady the pulse."}
    for bad in (
        "not json at all",
        '{"summary": "too short"}',
        '{"summary": "A long enough summary here.", "extra": 1}',
        '{"summary": "A long enough summary here.", "focus_areas": {"pedal_clean_blurred": "x"}}',
        '{"summary": "A long enough summary here.", "strengths": {"timing_stable_unstable": " "}}',
    ):
        with pytest.raises(ProseRejected):
            parse(bad, {TIMING}, {TIMING})
