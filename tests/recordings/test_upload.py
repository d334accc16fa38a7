"""POST /api/v1/upload: what is accepted, and every bad input refused with a clear 4xx in the
error shape, leaving nothing behind (no row, no object, no unfinished multipart upload)."""

from __future__ import annotations

import hashlib
import io
import select
import socket
import struct
import time
import wave
from urllib.parse import urlsplit

import httpx
import pytest

from service.core.config import Settings
from tests.conftest import Api
from tests.factories import Accounts
from tests.recordings.conftest import Leftovers, Takes, assert_error, metadata_for, upload

LIMIT = 50 * 1024 * 1024


def _wav(seconds: float, *, rate: int = 8000, width: int = 1) -> bytes:
    """Silence-free PCM (a quiet sawtooth) of the given length."""
    frames = int(seconds * rate)
    pattern = bytes(range(118, 138)) if width == 1 else struct.pack("<h", 300) * 20
    body = (pattern * (frames * width // len(pattern) + 1))[: frames * width]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(body)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4a"])
def test_each_format_is_accepted_with_decoder_facts(
    client: httpx.Client, accounts: Accounts, takes: Takes, fmt: str, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    data = takes["steady", fmt]
    # The name and the declared type lie; the bytes decide.
    r = upload(
        client,
        student,
        data,
        "C:\\Users\\me\\Desktop\\Scale\u200b take.bin",
        metadata=metadata_for(data, "Scale take 1." + fmt),
        content_type="application/pdf",
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "uploaded" and body["message"] == "Recording uploaded successfully"
    assert body["original_filename"] == "Scale take 1." + fmt
    assert body["format"] == fmt and body["size_bytes"] == len(data)
    assert body["sample_rate"] == 44100 and body["channels"] == 1
    assert 9.3 < body["duration_seconds"] < 9.6
    rows, keys, pending = leftovers.of(student)
    assert rows == 1 and pending == []
    assert keys == [f"recordings/{student.id}/{body['id']}.{fmt}"]
    stored = leftovers.store.get_bytes(leftovers.bucket, keys[0])
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()


def test_the_part_name_is_used_when_there_is_no_metadata(
    client: httpx.Client, accounts: Accounts, takes: Takes
) -> None:
    student = accounts.create("student")
    r = upload(client, student, takes["steady", "mp3"], "../../etc/Etude op. 10.mp3")
    assert r.status_code == 201, r.text
    assert r.json()["original_filename"] == "Etude op. 10.mp3"


# ---- bad input: each a clear 4xx, nothing left behind ------------------------------------

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"\x90" * 4000


@pytest.mark.parametrize(
    ("name", "data"),
    [("score.wav", PDF), ("setup.wav", ELF), ("notes.mp3", b"just some text, not audio at all")],
)
def test_wrong_magic_bytes_are_refused(
    client: httpx.Client, accounts: Accounts, leftovers: Leftovers, name: str, data: bytes
) -> None:
    student = accounts.create("student")
    r = upload(client, student, data, name, content_type="audio/wav")
    assert_error(r, 415, "unsupported_audio_format")
    leftovers.assert_none(student)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4a"])
def test_a_truncated_file_is_refused(
    client: httpx.Client, accounts: Accounts, takes: Takes, leftovers: Leftovers, fmt: str
) -> None:
    student = accounts.create("student")
    data = takes["steady", fmt]
    r = upload(client, student, data[: len(data) // 2], f"take.{fmt}")
    assert r.status_code == 422, r.text
    # An M4A whose index (moov, written last) was cut off can't even be opened.
    expected = {"audio_truncated"} if fmt != "m4a" else {"audio_truncated", "audio_undecodable"}
    assert r.json()["error"]["code"] in expected
    leftovers.assert_none(student)


def test_a_header_without_audio_does_not_decode(
    client: httpx.Client, accounts: Accounts, takes: Takes, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    mp3 = takes["steady", "mp3"]
    # ID3 tag intact, every frame after it replaced by noise that has no frame sync.
    noise = bytes((i * 37 + 11) % 200 for i in range(len(mp3)))
    r = upload(client, student, mp3[:200] + noise, "take.mp3")
    assert_error(r, 422, "audio_undecodable")
    leftovers.assert_none(student)


def test_a_zero_length_file_is_refused(
    client: httpx.Client, accounts: Accounts, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    assert_error(upload(client, student, b"", "empty.wav"), 422, "empty_file")
    leftovers.assert_none(student)


def test_a_recording_too_short_to_analyse_is_refused(
    client: httpx.Client, accounts: Accounts, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    assert_error(upload(client, student, _wav(0.3), "blip.wav"), 422, "recording_too_short")
    leftovers.assert_none(student)


def test_an_hour_long_recording_is_refused_before_analysis(
    client: httpx.Client, accounts: Accounts, leftovers: Leftovers, settings: Settings
) -> None:
    """An hour of 8 kHz 8-bit audio fits in 29 MB, well under the size limit: the duration
    limit (RECORDING_MAX_SECONDS) is what bounds the analysis' time and memory."""
    student = accounts.create("student")
    hour = _wav(3600)
    assert len(hour) < LIMIT
    r = upload(client, student, hour, "hour.wav")
    error = assert_error(r, 422, "recording_too_long")
    assert f"{settings.recording.max_seconds:.0f} s" in error["message"]
    leftovers.assert_none(student)


@pytest.mark.parametrize(
    ("parts", "code"),
    [
        (["file"], "audio_missing"),
        (["metadata"], "audio_missing"),
        (["audio", "audio"], "duplicate_audio_part"),
        (["metadata", "audio", "metadata"], "duplicate_metadata_part"),
    ],
)
def test_exactly_one_audio_part_and_at_most_one_metadata_part(
    client: httpx.Client,
    accounts: Accounts,
    takes: Takes,
    leftovers: Leftovers,
    parts: list[str],
    code: str,
) -> None:
    student = accounts.create("student")
    data = takes["steady", "wav"]
    files = [
        (name, (None, "{}", "application/json"))
        if name == "metadata"
        else (name, ("take.wav", data, "audio/wav"))
        for name in parts
    ]
    r = client.post("/api/v1/upload", files=files, headers=student.headers)
    assert_error(r, 422, code)
    leftovers.assert_none(student)


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ("{not json", "metadata_invalid"),
        ('["a list"]', "metadata_invalid"),
        ('{"hash": "not-hex"}', "metadata_invalid"),
        ('{"size": -1}', "metadata_invalid"),
    ],
)
def test_metadata_that_is_not_valid_json_is_refused(
    client: httpx.Client,
    accounts: Accounts,
    takes: Takes,
    leftovers: Leftovers,
    metadata: str,
    code: str,
) -> None:
    student = accounts.create("student")
    r = upload(client, student, takes["steady", "wav"], metadata=metadata)
    assert_error(r, 422, code)
    leftovers.assert_none(student)


def test_a_hash_or_size_mismatch_is_refused(
    client: httpx.Client, accounts: Accounts, takes: Takes, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    data = takes["steady", "wav"]
    wrong_hash = metadata_for(data) | {"hash": hashlib.sha256(b"other").hexdigest()}
    assert_error(upload(client, student, data, metadata=wrong_hash), 422, "hash_mismatch")
    wrong_size = metadata_for(data) | {"size": len(data) + 1}
    assert_error(upload(client, student, data, metadata=wrong_size), 422, "size_mismatch")
    # The same hash in upper case is the same hash.
    upper = metadata_for(data) | {"hash": hashlib.sha256(data).hexdigest().upper()}
    assert upload(client, student, data, metadata=upper).status_code == 201
    rows, keys, pending = leftovers.of(student)
    assert (rows, len(keys), pending) == (1, 1, [])


def test_not_multipart_is_415_and_no_token_is_401(
    client: httpx.Client, accounts: Accounts, takes: Takes
) -> None:
    student = accounts.create("student")
    r = client.post(
        "/api/v1/upload",
        content=takes["steady", "wav"],
        headers=student.headers | {"Content-Type": "audio/wav"},
    )
    assert_error(r, 415, "unsupported_media_type")
    r = client.post(
        "/api/v1/upload",
        content=b"--x\r\n",
        headers=student.headers | {"Content-Type": "multipart/form-data"},
    )
    assert_error(r, 422, "malformed_multipart")
    r = client.post("/api/v1/upload", files=[("audio", ("a.wav", b"RIFF", "audio/wav"))])
    assert_error(r, 401, "not_authenticated")


def test_a_body_cut_off_before_its_closing_boundary_is_refused(
    client: httpx.Client, accounts: Accounts, takes: Takes, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    data = takes["steady", "wav"]
    body = (
        b'--cut\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n" + data
    )  # no closing --cut--
    r = client.post(
        "/api/v1/upload",
        content=body,
        headers=student.headers | {"Content-Type": "multipart/form-data; boundary=cut"},
    )
    assert_error(r, 422, "malformed_multipart")
    leftovers.assert_none(student)


# ---- the size limit, enforced while streaming ----------------------------------------------


def _padded_wav(size: int) -> bytes:
    """A valid 8 kHz mono 16-bit WAV of exactly `size` bytes (about 54 minutes at 50 MB)."""
    header = _wav(0.001, width=2)[:44]
    frames = size - 44
    return (
        header[:4]
        + struct.pack("<I", size - 8)
        + header[8:40]
        + struct.pack("<I", frames)
        + b"\x10\x00" * (frames // 2)
        + b"\x00" * (frames % 2)
    )


def test_exactly_the_limit_passes_the_size_check_and_one_byte_more_is_413(
    client: httpx.Client, accounts: Accounts, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    at_limit = _padded_wav(LIMIT)
    # Exactly 50 MB: not refused for its size (this one then runs past the duration limit).
    assert_error(upload(client, student, at_limit, "limit.wav"), 422, "recording_too_long")
    assert_error(upload(client, student, at_limit + b"\x00", "over.wav"), 413, "file_too_large")
    leftovers.assert_none(student)


def _raw_upload(
    api: Api, token: str, *, declare_length: int | None, total: int
) -> tuple[int, int, bytes]:
    """Sends a multipart body of `total` audio bytes over a raw socket, watching for an answer
    after every write. Returns (bytes sent, bytes that could have been sent, response head)."""
    url = urlsplit(api.url)
    boundary = b"limit-test"
    head = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="audio"; '
        b'filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n' + _padded_wav(1 << 20)[:44]
    )
    headers = [
        b"POST /api/v1/upload HTTP/1.1",
        f"Host: {url.netloc}".encode(),
        f"Authorization: Bearer {token}".encode(),
        b"Content-Type: multipart/form-data; boundary=" + boundary,
    ]
    headers.append(
        f"Content-Length: {declare_length}".encode()
        if declare_length is not None
        else b"Transfer-Encoding: chunked"
    )
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(b"\r\n".join(headers) + b"\r\n\r\n")
    chunk = b"\x10\x00" * 32768
    sent, pending = 0, head
    answer = b""
    deadline = time.monotonic() + 60
    sock.setblocking(False)
    while sent < total and time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock], [], 1.0)
        if readable:
            break
        if writable:
            piece = pending or chunk
            frame = piece if declare_length is not None else b"%x\r\n%s\r\n" % (len(piece), piece)
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError, BlockingIOError):
                break
            sent += len(piece)
            pending = b""
    sock.setblocking(True)
    sock.settimeout(10)
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    return sent, total, answer


def test_an_oversized_stream_is_refused_as_it_arrives(
    live_api: Api, accounts: Accounts, leftovers: Leftovers
) -> None:
    """Chunked, with no length announced: the 413 comes while the client is still sending,
    long before the 200 MB it would have sent."""
    student = accounts.create("student")
    sent, total, answer = _raw_upload(
        live_api, student.access_token, declare_length=None, total=200 * 1024 * 1024
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < LIMIT + 16 * 1024 * 1024 < total  # the limit plus what socket buffers hold
    time.sleep(0.5)  # the abort of the partial multipart upload runs as the request ends
    leftovers.assert_none(student)


def test_an_announced_oversized_length_is_refused_before_the_body(
    live_api: Api, accounts: Accounts, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    sent, _, answer = _raw_upload(
        live_api, student.access_token, declare_length=LIMIT + 10 * 1024 * 1024, total=1
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent <= 1 << 20
    leftovers.assert_none(student)


def test_a_file_of_several_parts_is_stored_whole(
    client: httpx.Client, accounts: Accounts, leftovers: Leftovers
) -> None:
    """Over the 8 MiB part size: stored as a multipart upload, completed only after the checks."""
    student = accounts.create("student")
    data = _wav(400, rate=22050, width=2)  # about 17.6 MB: three parts
    r = upload(client, student, data, "long.wav", metadata=metadata_for(data, "long.wav"))
    assert r.status_code == 201, r.text
    assert r.json()["duration_seconds"] == pytest.approx(400, abs=0.01)
    rows, keys, pending = leftovers.of(student)
    assert (rows, len(keys), pending) == (1, 1, [])
    stored = leftovers.store.get_bytes(leftovers.bucket, keys[0])
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


def test_a_client_that_goes_away_mid_upload_leaves_nothing(
    live_api: Api, accounts: Accounts, leftovers: Leftovers
) -> None:
    """Nine MiB sent (so a part is already in storage), then the connection drops."""
    student = accounts.create("student")
    url = urlsplit(live_api.url)
    boundary = b"gone"
    head = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="audio"; '
        b'filename="a.wav"\r\n\r\n' + _padded_wav(1 << 20)[:44]
    )
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(
        b"POST /api/v1/upload HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {student.access_token}\r\n".encode()
        + b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n"
        + b"Content-Length: 40000000\r\n\r\n" + head
    )  # fmt: skip
    for _ in range(9 * 16):
        sock.sendall(b"\x10\x00" * 32768)
    sock.close()
    # The server notices, counts it as interrupted (not as its own error) and cleans up.
    deadline = time.monotonic() + 20
    while 'outcome="upload_interrupted"' not in httpx.get(f"{live_api.url}/api/metrics").text:
        assert time.monotonic() < deadline, "the disconnect was never handled"
        time.sleep(0.2)
    leftovers.assert_none(student)
