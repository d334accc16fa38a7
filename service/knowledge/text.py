"""Plain text and Markdown, with Project Gutenberg boilerplate removed and headings as sections."""

from __future__ import annotations

import re
from dataclasses import replace

from service.knowledge.extracted import Block, Extracted, ExtractionError

_PG_START = re.compile(r"^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
_PG_END = re.compile(
    r"^(\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG.*|End of (the )?Project Gutenberg.*)$",
    re.M | re.I,
)
FRONT_MATTER = "Front matter"
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_CHAPTER = re.compile(r"^(CHAPTER|PART|BOOK)\s+[\dIVXLC]+\.?$|^[IVXLC]+\.?$", re.I)
# Longer lines are never headings; the heading patterns backtrack on long lines, so they are
# not even tried (a megabyte-long single line would take minutes).
_MAX_HEADING_CHARS = 200


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ExtractionError("text_undecodable", "The text file is not in a known encoding.")


def strip_gutenberg(text: str) -> str:
    """Keeps only the book between PG's START and END markers (licence text is not knowledge)."""
    start = _PG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _PG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def _heading(paragraph: str, next_paragraph: str | None) -> str | None:
    lines = paragraph.strip().splitlines()
    if len(lines) != 1:
        return None
    line = lines[0].strip()
    if len(line) > _MAX_HEADING_CHARS:
        return None
    md = _MD_HEADING.match(line)
    if md:
        return md.group(1)
    if _CHAPTER.match(line):
        # "CHAPTER IV" is usually followed by its title on its own short line.
        if next_paragraph and len(next_paragraph.splitlines()) == 1 and len(next_paragraph) < 80:
            return f"{line} {next_paragraph.strip()}"
        return line
    letters = [c for c in line if c.isalpha()]
    if 3 <= len(line) <= 80 and letters and all(c.isupper() for c in letters):
        return line
    return None


def extract_text(data: bytes) -> Extracted:
    text = strip_gutenberg(decode(data)).replace("\r\n", "\n")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not paragraphs:
        raise ExtractionError("empty_document", "The document has no text.")
    blocks: list[Block] = []
    section: str | None = None
    for i, paragraph in enumerate(paragraphs):
        following = paragraphs[i + 1] if i + 1 < len(paragraphs) else None
        heading = _heading(paragraph, following)
        if heading:
            section = heading[:200]
        blocks.append(Block(text=paragraph, section=section))
    if section is not None:
        # Text before the first heading (title page, preface) still gets a citable label.
        blocks = [b if b.section else replace(b, section=FRONT_MATTER) for b in blocks]
    return Extracted(blocks=blocks)
