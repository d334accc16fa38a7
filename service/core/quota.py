"""Where a caller stands against one rate limit: what the limit headers and a 429 report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    bucket: str  # "api", "rag", "tutor", "uploads", "login"
    limit: int  # requests allowed per window
    window_seconds: int
    remaining: int
    reset_seconds: int  # until at least one more request is allowed (0: now)

    @property
    def share_left(self) -> float:
        return self.remaining / self.limit if self.limit else 0.0


def tightest(quotas: list[Quota]) -> Quota | None:
    """The quota closest to running out: the one a client should pace itself by."""
    return min(quotas, key=lambda q: (q.share_left, -q.reset_seconds), default=None)
