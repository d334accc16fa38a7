"""Citation hygiene: `[n]` markers survive only when n names a retrieved source.

Works on a stream: a marker split across deltas ("[1" + "2]") is held back until complete.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_PARTIAL = re.compile(r"\[[\d,\s]{0,12}$")


class CitationFilter:
    def __init__(self, source_count: int) -> None:
        self.source_count = source_count
        self.cited: list[int] = []  # valid source numbers, in order of first use
        self.dropped = 0
        self._held = ""

    def _clean(self, text: str) -> str:
        def replace(m: re.Match[str]) -> str:
            valid = []
            for part in m.group(1).split(","):
                n = int(part)
                if 1 <= n <= self.source_count:
                    if n not in valid:
                        valid.append(n)
                else:
                    self.dropped += 1
            for n in valid:
                if n not in self.cited:
                    self.cited.append(n)
            return "".join(f"[{n}]" for n in valid)

        return _MARKER.sub(replace, text)

    def feed(self, delta: str) -> str:
        text = self._held + delta
        partial = _PARTIAL.search(text)
        if partial:
            self._held = text[partial.start() :]
            text = text[: partial.start()]
        else:
            self._held = ""
        return self._clean(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self._clean(text)


def clean_all(text: str, source_count: int) -> tuple[str, list[int]]:
    f = CitationFilter(source_count)
    out = f.feed(text) + f.flush()
    return out, f.cited
