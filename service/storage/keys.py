"""Object keys: predictable prefixes per owner and project, and filenames safe in any URL or header."""

from __future__ import annotations

import re
import unicodedata
from uuid import UUID

_MAX_NAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_filename(name: str, *, suffix: str = ".pdf") -> str:
    """ASCII letters, digits, dot, dash and underscore only; no path parts; always ends in `suffix`.

    The name ends up in object keys, presigned URLs and Content-Disposition headers, so anything a
    browser, shell or S3 implementation might treat specially is replaced.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("-", ascii_name).strip("-._")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    stem = cleaned[: -len(suffix)] if cleaned.lower().endswith(suffix) else cleaned
    stem = stem.rstrip("-._")[: _MAX_NAME - len(suffix)] or "document"
    return f"{stem}{suffix}"


def project_key(user_id: UUID | str, project_id: UUID | str, filename: str) -> str:
    return f"projects/{user_id}/{project_id}/{sanitize_filename(filename)}"


def recording_key(user_id: UUID | str, recording_id: UUID | str, extension: str) -> str:
    """`recordings/{user_id}/{recording_id}.{ext}`: the extension is the detected format's."""
    return f"recordings/{user_id}/{recording_id}.{extension}"


UPLOAD_PREFIX = "uploads/"


def upload_key(storage_key: str) -> str:
    """Where the client's presigned PUT lands. Confirming copies the checked object to
    `storage_key`, which no URL can write, so a confirmed file can't be replaced."""
    return f"{UPLOAD_PREFIX}{storage_key}"
