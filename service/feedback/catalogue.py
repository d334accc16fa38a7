"""What a score means for a student, per dimension: which pole is the goal, when a score is a
strength or something to work on, what to say about it, what to search the knowledge base for,
and which exercises address it.

Dimensions are scales between two poles (service/analysis/dimensions.py), and for most of them
neither pole is "better": a dark tone or a slow tempo is a choice. Only dimensions where one
pole is what a teacher would ask of a student are judged here; the rest are reported as
measured but never called a strength or a weakness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Pole = Literal["low", "high"]


@dataclass(frozen=True)
class Exercise:
    title: str
    # `{tempo}` is filled with a starting metronome mark from the measured tempo.
    instructions: str
    # Exercises that need a metronome / a sustain pedal are adapted or left out when the
    # student's constraints rule those out.
    metronome: bool = False
    pedal: bool = False


@dataclass(frozen=True)
class Judgement:
    dimension: str
    label: str  # how a student would name it
    goal: Pole  # the pole a teacher would ask for
    focus_at: float  # a score this far towards the other pole is something to work on
    strength_at: float  # a score this close to the goal is a strength
    # Ranks focus areas of similar concern: a steady pulse before evenness of articulation
    # before dynamic shading before pedalling, the order teachers build them in.
    weight: float
    focus: str  # the finding when it is a focus area; `{score}` is filled in
    strength: str  # the finding when it is a strength
    query: str  # the knowledge-base search for advice on it
    exercises: tuple[Exercise, ...]

    def concern(self, score: float) -> float:
        """0 at the goal, 1 at the far pole (as a share of the way to the focus threshold
        and beyond, capped)."""
        distance = score if self.goal == "low" else 1.0 - score
        threshold = self.focus_at if self.goal == "low" else 1.0 - self.focus_at
        return min(1.0, distance / (2 * threshold)) if threshold > 0 else float(distance > 0)

    def is_focus(self, score: float) -> bool:
        return score >= self.focus_at if self.goal == "low" else score <= self.focus_at

    def is_strength(self, score: float) -> bool:
        return score <= self.strength_at if self.goal == "low" else score >= self.strength_at


# Both pedal scales are worked on the same way.
PEDAL_CHANGES = Exercise(
    "Syncopated pedal changes",
    "Play the passage slowly, lifting the pedal exactly as each new harmony sounds and pressing "
    "it again just after; listen for a clean join.",
    pedal=True,
)
PEDAL_QUERY = "how to use the damper pedal legato pedalling change after the harmony"

JUDGEMENTS: tuple[Judgement, ...] = (
    Judgement(
        "timing_stable_unstable",
        "steady timing",
        goal="low",
        focus_at=0.2,
        strength_at=0.05,
        weight=1.0,
        focus="Note timing is uneven (score {score}; 0 is metronomic, 1 is 100 ms or more off): "
        "onsets drift from the rhythm they are read as.",
        strength="Timing is steady (score {score}): onsets sit close to an even pulse.",
        query="how to practise with a metronome to keep an even steady rhythm and time",
        exercises=(
            Exercise(
                "Metronome at a slower tempo",
                "Set the metronome to {tempo} BPM and play the passage with one note per click; "
                "raise the tempo by 4 BPM only after two clean repetitions in a row.",
                metronome=True,
            ),
            Exercise(
                "Rhythmic variants",
                "Play the passage in dotted rhythms (long-short, then short-long), then evenly "
                "again: the uneven spots show up as the ones that stumble.",
            ),
        ),
    ),
    Judgement(
        "articulation_short_long",
        "connected (legato) touch",
        goal="high",
        focus_at=0.5,
        strength_at=0.8,
        weight=0.9,
        focus="Notes are released early (score {score}; 0 is very detached, 1 is fully "
        "connected): unless the music asks for staccato, the line breaks between notes.",
        strength="Notes connect into a line (score {score}): each sounds until the next begins.",
        query="legato touch connecting notes finger legato practice",
        exercises=(
            Exercise(
                "Finger legato, slowly",
                "Play the passage at {tempo} BPM, holding each key until the next one is down; "
                "listen for the overlap, without pedal.",
                metronome=True,
            ),
            Exercise(
                "Hold-and-release drill",
                "Play two-note slurs across the passage: connect the pair, lift on the second; "
                "then join the pairs into the full line.",
            ),
        ),
    ),
    Judgement(
        "dynamic_range_little_large",
        "dynamic range",
        goal="high",
        focus_at=0.2,
        strength_at=0.5,
        weight=0.8,
        focus="The dynamics are flat (score {score}; 1 is about 30 dB from pp to ff): the notes "
        "are played at nearly one loudness.",
        strength="The playing uses a wide dynamic range (score {score}).",
        query="practising dynamics crescendo diminuendo piano forte tone shading",
        exercises=(
            Exercise(
                "Crescendo on a scale",
                "Play a scale up from pp to ff and down from ff to pp, one step louder per note; "
                "record it and check that the ends really differ.",
            ),
            Exercise(
                "Dynamics on a phrase",
                "Mark a crescendo to the top of each phrase and a diminuendo after it, and play "
                "the passage exaggerating both.",
            ),
        ),
    ),
    Judgement(
        "pedal_sparse_saturated",
        "clean pedalling",
        goal="low",
        focus_at=0.9,
        strength_at=-1.0,  # how much pedal is a choice: never a strength by itself
        weight=0.7,
        focus="Almost every note is still ringing after the next one starts (score {score}): "
        "the pedal is held through changes, which blurs unless the harmony stays the same.",
        strength="",
        query=PEDAL_QUERY,
        exercises=(
            PEDAL_CHANGES,
            Exercise(
                "Passage without pedal",
                "Play the passage with no pedal at all, connecting with the fingers only, so the "
                "pedal adds colour rather than covering gaps.",
            ),
        ),
    ),
    Judgement(
        "pedal_clean_blurred",
        "clean pedalling",
        goal="low",
        focus_at=0.6,
        strength_at=0.25,
        weight=0.7,
        focus="The pedalling blurs the harmonies (score {score}).",
        strength="The pedalling is clean (score {score}).",
        query=PEDAL_QUERY,
        exercises=(PEDAL_CHANGES,),
    ),
    Judgement(
        "dynamic_sophisticated_raw",
        "controlled dynamics",
        goal="low",
        focus_at=0.6,
        strength_at=0.3,
        weight=0.6,
        focus="The dynamics sound raw rather than shaped (score {score}).",
        strength="The dynamics sound shaped and controlled (score {score}).",
        query="tone control touch playing with a beautiful singing tone",
        exercises=(
            Exercise(
                "Weighted touch",
                "Play the melody alone, letting arm weight rather than finger force make the "
                "loud notes; keep the wrist loose.",
            ),
        ),
    ),
    Judgement(
        "timbre_shallow_rich",
        "rich tone",
        goal="high",
        focus_at=0.35,
        strength_at=0.7,
        weight=0.5,
        focus="The tone sounds shallow (score {score}).",
        strength="The tone sounds rich (score {score}).",
        query="tone production singing tone touch weight",
        exercises=(
            Exercise(
                "Singing tone",
                "Play a slow melody, sinking into the bottom of each key and listening to how "
                "long each note sings.",
            ),
        ),
    ),
    Judgement(
        "music_making_disproportioned_balanced",
        "balance",
        goal="high",
        focus_at=0.35,
        strength_at=0.7,
        weight=0.5,
        focus="The parts sound out of proportion (score {score}).",
        strength="The playing sounds balanced (score {score}).",
        query="balance between melody and accompaniment voicing",
        exercises=(
            Exercise(
                "Voicing the melody",
                "Play the accompaniment pp and the melody mf, then swap, so you control "
                "each layer on its own.",
            ),
        ),
    ),
    Judgement(
        "interpretation_unsatisfactory_convincing",
        "convincing interpretation",
        goal="high",
        focus_at=0.35,
        strength_at=0.7,
        weight=0.4,
        focus="The interpretation doesn't yet convince (score {score}).",
        strength="The interpretation is convincing (score {score}).",
        query="interpretation phrasing musical expression study of a piece",
        exercises=(
            Exercise(
                "Phrase map",
                "Sing each phrase, mark where it peaks and relaxes, then play it shaping "
                "towards those points.",
            ),
        ),
    ),
)
BY_DIMENSION = {j.dimension: j for j in JUDGEMENTS}

WARM_UP = Exercise(
    "Warm-up",
    "Slow scales and five-finger patterns in the key of the piece, hands separately, with a "
    "loose wrist.",
)
RUN_THROUGH = Exercise(
    "Run-through",
    "Play the piece through once without stopping and record it, to hear the week's progress.",
)
