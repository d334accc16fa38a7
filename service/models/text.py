"""Text types for every string a client sends that reaches PostgreSQL.

PostgreSQL refuses NUL (U+0000) in `text` and `jsonb`, so a NUL must never get past the schema.
Two kinds, one rule each:

- `Line` (names, titles, filenames, URLs): one line a person typed or picked. Control characters
  (C0, DEL, C1) there are always a client bug or an attack, so they are refused with 422
  `validation_error` (type `control_characters`), never silently changed.
- `FreeText` (questions, messages, notes, descriptions): prose, often pasted from a PDF or a
  terminal, where a stray NUL carries no meaning. NUL is removed; newlines, tabs and every other
  character are kept. A value that was only NULs is then empty and fails its `min_length`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

NUL = "\x00"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def strip_nul(value: Any) -> Any:
    """Removes NUL from a string (other input is left for pydantic's own type check)."""
    return value.replace(NUL, "") if isinstance(value, str) else value


def refuse_control_characters(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise PydanticCustomError(
            "control_characters",
            "must not contain control characters (found U+{code:04X})",
            {"code": ord(found.group())},
        )
    return value


# Before: pydantic's length checks then see the text as it will be stored.
FreeText = Annotated[str, BeforeValidator(strip_nul)]
Line = Annotated[str, AfterValidator(refuse_control_characters)]


def clean_line(value: str) -> str:
    """Line's rule for server-side text (e.g. a PDF's metadata title): control characters become
    spaces, since there is no client to refuse."""
    return _CONTROL.sub(" ", value)
