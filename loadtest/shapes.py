"""Load shapes from the spec: ramp to 50, hold, ramp to 100, hold, ramp down (14 min at scale 1).

Times scale with LOAD_SCALE (CI runs seconds, operators the full 14 minutes); users scale with
LOAD_PEAK_USERS. The stress shape is the same curve at twice the users.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SPEC_PEAK_USERS = 100


@dataclass(frozen=True)
class Stage:
    """Move linearly from the previous stage's users to `users` over `seconds`."""

    seconds: float
    users: int


# Fractions of the peak, and seconds at scale 1.0: 60+180+60+480+60 = 840 s = 14 min.
_SPEC_STAGES: tuple[tuple[float, float], ...] = (
    (60, 0.5),  # ramp to 50
    (180, 0.5),  # hold 50
    (60, 1.0),  # ramp to 100
    (480, 1.0),  # hold 100
    (60, 0.0),  # ramp down
)
SPEC_SECONDS = sum(s for s, _ in _SPEC_STAGES)


def spec_stages(scale: float = 1.0, peak_users: int = SPEC_PEAK_USERS) -> list[Stage]:
    if scale <= 0 or peak_users < 1:
        raise ValueError("scale must be > 0 and peak_users >= 1")
    return [Stage(seconds * scale, round(frac * peak_users)) for seconds, frac in _SPEC_STAGES]


def stages_for(profile: str, scale: float, peak_users: int | None = None) -> list[Stage]:
    """spec/smoke: the spec curve; stress: the same curve at 2x the peak."""
    peak = peak_users or SPEC_PEAK_USERS
    if profile == "stress":
        return spec_stages(scale, 2 * peak)
    if profile in ("spec", "smoke"):
        return spec_stages(scale, peak)
    raise ValueError(f"unknown load profile '{profile}' (spec, smoke, stress)")


def peak_of(stages: list[Stage]) -> int:
    return max(s.users for s in stages)


def target_at(stages: list[Stage], elapsed: float) -> tuple[int, float] | None:
    """(users, spawn rate) at `elapsed` seconds, or None when the shape is over."""
    start_users = 0
    t0 = 0.0
    for stage in stages:
        if elapsed < t0 + stage.seconds:
            frac = (elapsed - t0) / stage.seconds if stage.seconds else 1.0
            users = round(start_users + (stage.users - start_users) * frac)
            # Rate high enough to track the ramp tick by tick (Locust ticks once a second).
            rate = max(1.0, abs(stage.users - start_users) / max(stage.seconds, 1.0) * 2)
            return users, rate
        start_users = stage.users
        t0 += stage.seconds
    return None


@dataclass(frozen=True)
class ShapeParams:
    profile: str
    scale: float
    peak_users: int

    @classmethod
    def from_env(cls) -> ShapeParams:
        profile = os.environ.get("LOAD_SHAPE", "spec")
        scale = float(os.environ.get("LOAD_SCALE", "1.0"))
        peak = int(os.environ.get("LOAD_PEAK_USERS", str(SPEC_PEAK_USERS)))
        return cls(profile, scale, peak)

    def stages(self) -> list[Stage]:
        return stages_for(self.profile, self.scale, self.peak_users)
