"""What every extractor returns: blocks of text that remember where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field

BLOCK_SEPARATOR = "\n\n"


class ExtractionError(Exception):
    """The source can't be turned into text; `code` is stored on the document for the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Block:
    """A page, a cue or a section of text, with the location a citation should point to."""

    text: str
    page: int | None = None
    start_seconds: float | None = None
    end_seconds: float | None = None
    section: str | None = None


@dataclass
class Extracted:
    blocks: list[Block]
    page_count: int | None = None
    title: str | None = None
    # Filled by `joined()`: the full extracted text and each block's start offset in it.
    offsets: list[int] = field(default_factory=list)

    def joined(self) -> str:
        """The extracted text chunk offsets refer to: blocks joined by a blank line."""
        parts: list[str] = []
        self.offsets = []
        pos = 0
        for i, block in enumerate(self.blocks):
            if i:
                parts.append(BLOCK_SEPARATOR)
                pos += len(BLOCK_SEPARATOR)
            self.offsets.append(pos)
            parts.append(block.text)
            pos += len(block.text)
        return "".join(parts)
