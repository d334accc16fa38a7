"""What every extractor returns: blocks of text that remember where they came from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

BLOCK_SEPARATOR = "\n\n"


class ExtractionError(Exception):
    """The source can't be turned into text; `code` is stored on the document for the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[ExtractionError], tuple[str, str]]:
        # Raised in parser processes and re-raised in the worker: pickles with both fields.
        return (type(self), (self.code, self.message))


# Page and vertical breaks become line breaks; every other control character goes: NUL, which
# PostgreSQL refuses in text, the rest of C0 and C1, and lone surrogates, which UTF-8 can't encode.
_BREAKS = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text as stored and embedded: no control characters, line structure kept."""
    return _CONTROLS.sub("", _BREAKS.sub("\n", text))


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


def cleaned(extracted: Extracted) -> Extracted:
    """Every extractor's output passes through here before chunking; blocks left empty go."""

    def clean(value: str | None) -> str | None:
        return clean_text(value) if value is not None else None

    blocks = [
        replace(b, text=clean_text(b.text), section=clean(b.section)) for b in extracted.blocks
    ]
    return Extracted(
        blocks=[b for b in blocks if b.text.strip()],
        page_count=extracted.page_count,
        title=clean(extracted.title),
    )
