"""A local stand-in for the three YouTube endpoints youtube-transcript-api 1.2.x talks to.

1. `GET /watch?v=<id>`: the watch page; the client reads `"INNERTUBE_API_KEY":"<key>"` from it.
2. `POST /youtubei/v1/player?key=<key>` with `{"context": {"client": {...}}, "videoId": <id>}`:
   the player response, `{"playabilityStatus": {"status", "reason"}, "captions":
   {"playerCaptionsTracklistRenderer": {"captionTracks": [{"baseUrl", "name": {"runs":
   [{"text"}]}, "languageCode", "kind"?, "isTranslatable"}], "translationLanguages": [...]}}}`.
3. `GET /api/timedtext?v=<id>&lang=<code>`: `<transcript><text start=".." dur="..">..</text>`.

Caption track URLs are absolute `https://www.youtube.com/...` as in YouTube's answers; the client
under test sends them back here through its base URL. Each video id is one scenario.
"""

from __future__ import annotations

import json
import time
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_http import LocalServer, QuietHandler

API_KEY = "AIzaFakeKey_for-tests"
CUES = [
    (1.5, 2.0, "Welcome to today's lesson on scales."),
    (4.0, 3.5, "Keep the wrist loose &amp; let the thumb pass under."),
    (3720.0, 6.5, "Practise slowly, then a little faster each day."),
]
SLOW_SECONDS = 3.0

# video id -> (playability status, reason, caption tracks as (language code, generated))
VIDEOS: dict[str, tuple[str, str | None, list[tuple[str, bool]] | None]] = {
    "okVideo0001": ("OK", None, [("en", False), ("de", True)]),
    "asrOnly0001": ("OK", None, [("en", True)]),
    "deCaption01": ("OK", None, [("de", False)]),
    "noCaption01": ("OK", None, None),
    "emptyCaps01": ("OK", None, [("en", False)]),
    "privateVid1": ("LOGIN_REQUIRED", "This video is private", None),
    "ageRestrict": ("LOGIN_REQUIRED", "This video may be inappropriate for some users.", None),
    "goneVideo01": ("ERROR", "This video is unavailable", None),
    "botBlocked1": ("LOGIN_REQUIRED", "Sign in to confirm you\u2019re not a bot", None),
    "slowVideo01": ("OK", None, [("en", False)]),
}
RATE_LIMITED = "rateLimit01"


def _timedtext(video: str) -> str:
    if video == "emptyCaps01":
        return '<?xml version="1.0" encoding="utf-8" ?><transcript></transcript>'
    texts = "".join(
        f'<text start="{s}" dur="{d}">{escape(t, quote=False)}</text>' for s, d, t in CUES
    )
    return f'<?xml version="1.0" encoding="utf-8" ?><transcript>{texts}</transcript>'


def _player(video: str) -> dict[str, Any]:
    status, reason, tracks = VIDEOS[video]
    body: dict[str, Any] = {"playabilityStatus": {"status": status}}
    if reason:
        body["playabilityStatus"]["reason"] = reason
    if tracks is not None:
        body["captions"] = {
            "playerCaptionsTracklistRenderer": {
                "captionTracks": [
                    {
                        "baseUrl": f"https://www.youtube.com/api/timedtext?v={video}&lang={code}"
                        "&fmt=srv3",
                        "name": {"runs": [{"text": {"en": "English", "de": "Deutsch"}[code]}]},
                        "languageCode": code,
                        **({"kind": "asr"} if generated else {}),
                        "isTranslatable": True,
                    }
                    for code, generated in tracks
                ],
                "translationLanguages": [
                    {"languageCode": "fr", "languageName": {"runs": [{"text": "French"}]}}
                ],
            }
        }
    return body


class FakeYouTube:
    def __init__(self) -> None:
        self.requests: list[str] = []
        fake = self

        class Handler(QuietHandler):
            def _send(self, status: int, body: str, kind: str) -> None:
                self.send_body(status, body.encode(), kind)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(f"GET {url.path}")
                video = query.get("v", "")
                if url.path == "/watch":
                    if video == RATE_LIMITED:
                        self._send(429, "Too Many Requests", "text/plain")
                        return
                    page = (
                        f'<html><script>ytcfg.set({{"INNERTUBE_API_KEY":"{API_KEY}",'
                        f'"VIDEO_ID":"{video}"}});</script></html>'
                    )
                    self._send(200, page, "text/html; charset=utf-8")
                elif url.path == "/api/timedtext" and video in VIDEOS:
                    if video == "slowVideo01":
                        time.sleep(SLOW_SECONDS)
                    self._send(200, _timedtext(video), "text/xml; charset=utf-8")
                else:
                    self._send(404, "not found", "text/plain")

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                fake.requests.append(f"POST {url.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = parse_qs(url.query).get("key", [""])[0]
                client = body.get("context", {}).get("client", {})
                video = body.get("videoId", "")
                if url.path != "/youtubei/v1/player" or key != API_KEY or not client:
                    self._send(400, '{"error": "bad request"}', "application/json")
                elif video not in VIDEOS:
                    self._send(200, json.dumps(_player("goneVideo01")), "application/json")
                else:
                    self._send(200, json.dumps(_player(video)), "application/json")

        self.http = LocalServer(Handler)
        self.url = self.http.url

    def close(self) -> None:
        self.http.close()
