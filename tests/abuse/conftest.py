"""APIs with low limits on the suite's database (each limit keys its own counters, so they never
meet the generous limits the rest of the suite runs with), and a tiny stand-in embedder so
questions are cheap: the limits, not the answers, are under test here."""

from __future__ import annotations

import hashlib
import math

EDGE_SECRET = "abuse-edge-secret"


class HashEmbedder:
    """A deterministic 384-dim unit vector per text (no model to load)."""

    model = "test/hash-embedder"
    dimensions = 384

    async def embed(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            seed = hashlib.sha256(text.encode()).digest()
            raw = [((seed[i % 32] + i) % 17) - 8.0 for i in range(self.dimensions)]
            norm = math.sqrt(sum(x * x for x in raw)) or 1.0
            out.append([x / norm for x in raw])
        return out


def from_ip(ip: str) -> dict[str, str]:
    """Headers of a request the edge forwarded for a client at `ip`."""
    return {"X-Origin-Secret": EDGE_SECRET, "X-Forwarded-For": ip}
