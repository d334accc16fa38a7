"""Server-sent events as a client reads them: one (event name or None, data lines) per block."""

from __future__ import annotations


def sse_blocks(text: str) -> list[tuple[str | None, list[str]]]:
    blocks = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if name or data:
            blocks.append((name, data))
    return blocks
