"""multipart/form-data read as it arrives (python-multipart's push parser, which Starlette uses
too), turned into a few plain events: a part starts (with its headers), data, a part ends.

Nothing is buffered here: each chunk fed in comes back out as events at once, so the caller can
refuse an upload the moment a part or the body passes its limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from service.core.exceptions import Invalid, UnsupportedMediaType


@dataclass(frozen=True)
class PartStart:
    name: str | None
    filename: str | None
    content_type: str | None


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd

MALFORMED = "malformed_multipart"


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary, or 415/422 when the body isn't multipart/form-data."""
    kind, options = parse_options_header(content_type or "")
    if kind.lower() != b"multipart/form-data":
        raise UnsupportedMediaType(
            "unsupported_media_type",
            "Send the recording as multipart/form-data with an 'audio' part.",
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise Invalid(MALFORMED, "The multipart Content-Type has no boundary.")
    return boundary


class FormReader:
    def __init__(self, boundary: bytes) -> None:
        self.events: list[Event] = []
        self.headers: dict[str, bytes] = {}
        self.field = bytearray()
        self.value = bytearray()
        self.ended = False
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": lambda d, s, e: self.field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self.value.extend(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done,
                "on_part_data": lambda d, s, e: self.events.append(PartData(bytes(d[s:e]))),
                "on_part_end": lambda: self.events.append(PartEnd()),
                "on_end": self._end,
            },
        )

    def _begin(self) -> None:
        self.headers = {}

    def _header_end(self) -> None:
        # Raw bytes: browsers send file names as UTF-8, which the options parser keeps intact
        # only when it is handed bytes.
        self.headers[self.field.decode("latin-1").strip().lower()] = bytes(self.value).strip()
        self.field.clear()
        self.value.clear()

    def _headers_done(self) -> None:
        _, options = parse_options_header(self.headers.get("content-disposition", b""))
        name, filename = options.get(b"name"), options.get(b"filename")
        self.events.append(
            PartStart(
                name.decode("utf-8", "replace") if name is not None else None,
                filename.decode("utf-8", "replace") if filename is not None else None,
                self.headers.get("content-type", b"").decode("latin-1") or None,
            )
        )

    def _end(self) -> None:
        self.ended = True

    def feed(self, chunk: bytes) -> list[Event]:
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            raise Invalid(MALFORMED, f"The multipart body is malformed: {exc}") from exc
        out, self.events = self.events, []
        return out

    def finish(self) -> list[Event]:
        try:
            self.parser.finalize()
        except MultipartParseError as exc:
            raise Invalid(MALFORMED, f"The multipart body is malformed: {exc}") from exc
        if not self.ended:
            raise Invalid(MALFORMED, "The multipart body ended before its closing boundary.")
        out, self.events = self.events, []
        return out
