"""The perceptual dimensions a performance is scored on, named as the product spec names them.

The spec's model is trained on perceptual piano ratings (PercePiano): every dimension is a scale
between two poles, and its name lists the poles in order (`timing_stable_unstable`). Scores are
always in [0, 1]: 0 is the first pole, 1 the second. An analyser that can't measure a dimension
returns null for it together with the reason; it never fills in a number.
"""

from __future__ import annotations

from dataclasses import dataclass

SCORE_UNIT = "score"
SCORE_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class Dimension:
    name: str
    low: str  # what 0 means
    high: str  # what 1 means


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("timing_stable_unstable", "stable", "unstable"),
    Dimension("articulation_short_long", "short", "long"),
    Dimension("articulation_soft_hard", "soft, cushioned", "hard, solid"),
    Dimension("pedal_sparse_saturated", "sparse, dry", "saturated, wet"),
    Dimension("pedal_clean_blurred", "clean", "blurred"),
    Dimension("timbre_even_colorful", "even", "colourful"),
    Dimension("timbre_shallow_rich", "shallow", "rich"),
    Dimension("timbre_bright_dark", "bright", "dark"),
    Dimension("timbre_soft_loud", "soft", "loud"),
    Dimension("dynamic_sophisticated_raw", "sophisticated, mellow", "raw, crude"),
    Dimension("dynamic_range_little_large", "little dynamic range", "large dynamic range"),
    Dimension("music_making_fast_slow", "fast-paced", "slow-paced"),
    Dimension("music_making_flat_spacious", "flat", "spacious"),
    Dimension("music_making_disproportioned_balanced", "disproportioned", "balanced"),
    Dimension("music_making_pure_dramatic", "pure", "dramatic, expressive"),
    Dimension("emotion_mood_optimistic_dark", "optimistic, pleasant", "dark"),
    Dimension("emotion_mood_low_high_energy", "low energy", "high energy"),
    Dimension("emotion_mood_honest_imaginative", "honest", "imaginative"),
    Dimension("interpretation_unsatisfactory_convincing", "unsatisfactory", "convincing"),
)
BY_NAME = {d.name: d for d in DIMENSIONS}
NAMES = tuple(BY_NAME)
