"""The boot-time secret loader against local fakes of the metadata server and Secret Manager.

The fakes speak the documented wire formats: metadata endpoints demand the
`Metadata-Flavor: Google` header; the token endpoint returns {access_token, expires_in,
token_type}; an instance attribute is returned as its raw value; `versions/N:access` returns
{name, payload: {data: base64, dataCrc32c}} and Google's error envelope
{error: {code, message, status}} for a missing or disabled version.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from piano_infra.files import load_secrets
from piano_infra.startup import StartupSpec, render

LOADER = Path(load_secrets.__file__)
TOKEN = "ya29.fixture-token"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    'MIIEvQIBADANBgkqhkiG9w0B\nAQEFAASC$x"q`\n'
    "-----END PRIVATE KEY-----\n"
)
PROJECT = "projects/123456"
# (secret id, version) -> value; version 2 of the database URL is the rotated one.
VERSIONS = {
    ("prod-database-url", "1"): "postgresql://u:old@db:5432/piano",
    ("prod-database-url", "2"): "postgresql://u:p@db:5432/piano",
    ("prod-jwt-private-key", "4"): PEM,
    ("prod-metrics-token", "1"): "metrics-token-value",
}
DISABLED = {("prod-database-url", "1")}


def version(secret: str, number: str) -> str:
    return f"{PROJECT}/secrets/{secret}/versions/{number}"


class FakeGoogle(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str]]] = []
    flaky: int = 0
    pinned: dict[str, str] = {}  # the instance attribute piano-secret-versions

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict[str, object] | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, status: str, message: str) -> None:
        self._send(code, {"error": {"code": code, "message": message, "status": status}})

    def do_GET(self) -> None:
        type(self).requests.append((self.path, dict(self.headers)))
        if self.path.startswith("/computeMetadata/"):
            if self.headers.get("Metadata-Flavor") != "Google":
                self._send(403, {"error": "Missing Metadata-Flavor:Google header."})
            elif self.path == "/computeMetadata/v1/instance/service-accounts/default/token":
                self._send(200, {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})
            elif self.path == "/computeMetadata/v1/instance/attributes/piano-secret-versions":
                self._send(200, json.dumps(type(self).pinned))  # the attribute's raw value
            else:
                self._send(404, "Not Found")
            return
        if type(self).flaky > 0:
            type(self).flaky -= 1
            self._error(503, "UNAVAILABLE", "unavailable")
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._error(401, "UNAUTHENTICATED", "bad token")
            return
        parts = self.path.removeprefix(f"/v1/{PROJECT}/secrets/").removesuffix(":access")
        secret, _, number = parts.partition("/versions/")
        if (secret, number) in DISABLED:
            self._error(
                400,
                "FAILED_PRECONDITION",
                f"Secret Version [{version(secret, number)}] is in DISABLED state.",
            )
            return
        if (secret, number) not in VERSIONS or not self.path.endswith(":access"):
            self._error(404, "NOT_FOUND", f"Secret Version [{version(secret, number)}] not found.")
            return
        data = base64.b64encode(VERSIONS[(secret, number)].encode()).decode()
        self._send(
            200, {"name": version(secret, number), "payload": {"data": data, "dataCrc32c": "1234"}}
        )


@pytest.fixture
def google() -> Iterator[str]:
    FakeGoogle.requests = []
    FakeGoogle.flaky = 0
    FakeGoogle.pinned = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGoogle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _run(host: str, pinned: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    FakeGoogle.pinned = pinned
    env = {
        "GCE_METADATA_HOST": host,
        "SECRET_MANAGER_ENDPOINT": f"http://{host}",
        "LOAD_SECRETS_BACKOFF": "0.01",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, str(LOADER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _parse_systemd_env(text: str) -> dict[str, str]:
    """Minimal reader for KEY="value" lines with systemd's double-quote escapes."""
    values: dict[str, str] = {}
    i = 0
    while i < len(text):
        eq = text.index("=", i)
        key = text[i:eq]
        assert text[eq + 1] == '"'
        j, out = eq + 2, []
        while text[j] != '"':
            if text[j] == "\\":
                j += 1
            out.append(text[j])
            j += 1
        values[key] = "".join(out)
        assert text[j + 1] == "\n"
        i = j + 2
    return values


def test_loader_reads_the_pinned_versions_into_a_private_env_file(
    google: str, tmp_path: Path
) -> None:
    pinned = {
        "DATABASE_URL": version("prod-database-url", "2"),
        "JWT_PRIVATE_KEY": version("prod-jwt-private-key", "4"),
    }
    out = tmp_path / "out" / "secrets.env"
    result = _run(google, pinned, "env", str(out))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    values = _parse_systemd_env(out.read_text())
    assert values == {"DATABASE_URL": "postgresql://u:p@db:5432/piano", "JWT_PRIVATE_KEY": PEM}
    metadata_calls = [h for p, h in FakeGoogle.requests if p.startswith("/computeMetadata")]
    assert metadata_calls and all(h["Metadata-Flavor"] == "Google" for h in metadata_calls)
    accessed = sorted(p for p, _ in FakeGoogle.requests if p.startswith("/v1/"))
    assert accessed == sorted(f"/v1/{v}:access" for v in pinned.values()), "never 'latest'"


def test_loader_writes_one_private_file_per_secret(google: str, tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    result = _run(google, {"METRICS_TOKEN": version("prod-metrics-token", "1")}, "files", str(out))
    assert result.returncode == 0, result.stderr
    token = out / "metrics-token"
    assert token.read_text() == "metrics-token-value"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert sorted(p.name for p in out.iterdir()) == ["metrics-token"]


def test_loader_retries_transient_errors(google: str, tmp_path: Path) -> None:
    FakeGoogle.flaky = 2
    pinned = {"DATABASE_URL": version("prod-database-url", "2")}
    result = _run(google, pinned, "env", str(tmp_path / "secrets.env"))
    assert result.returncode == 0, result.stderr
    assert len([p for p, _ in FakeGoogle.requests if p.startswith("/v1/")]) == 3


@pytest.mark.parametrize(
    ("pinned", "expected"),
    [
        ({"OPENAI_API_KEY": version("prod-nope", "1")}, "HTTP 404"),
        ({"DATABASE_URL": version("prod-database-url", "1")}, "DISABLED"),
        ({"DATABASE_URL": "prod-database-url"}, "not a secret version name"),
        ({"DATABASE_URL": f"{PROJECT}/secrets/prod-database-url/versions/latest"}, "not a secret"),
    ],
    ids=["missing version", "disabled version", "secret id", "latest alias"],
)
def test_loader_fails_fast_and_writes_nothing(
    google: str, tmp_path: Path, pinned: dict[str, str], expected: str
) -> None:
    pinned = {"JWT_PRIVATE_KEY": version("prod-jwt-private-key", "4"), **pinned}
    out = tmp_path / "out" / "secrets.env"
    result = _run(google, pinned, "env", str(out))
    assert result.returncode == 1
    assert expected in result.stderr
    assert not out.exists()
    assert len([p for p, _ in FakeGoogle.requests if p.startswith("/v1/")]) <= 2


def test_loader_refuses_unknown_modes(google: str, tmp_path: Path) -> None:
    result = _run(google, {}, "secrets.json", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_rendered_startup_script_is_valid_bash_and_embeds_the_loader() -> None:
    script = render(
        StartupSpec(
            version="1.2.3",
            package_index="https://europe-west1-python.pkg.dev/piano-rel/piano-releases/simple/",
            requirements_lock="fastapi==1.0.0\ntorch==2.13.0+cpu\n",
            plain_env={"ENVIRONMENT": "prod", "S3_BUCKET_PROJECTS": "piano-pdfs-prod"},
            api_workers=3,
            extra_index="https://download.pytorch.org/whl/cpu",
        )
    )
    subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=30)
    assert LOADER.read_text() in script
    assert "load_secrets.py env /etc/piano/secrets.env" in script
    assert "--no-deps --index-url" in script
    assert (
        "pip install -q --constraint /opt/piano/requirements.lock --extra-index-url "
        "https://download.pytorch.org/whl/cpu piano-platform==1.2.3\n" in script
    )
    assert (
        "cat > /opt/piano/requirements.lock <<'PIANO_EOF'\nfastapi==1.0.0\ntorch==2.13.0+cpu\n"
        in script
    )
    assert "piano-platform[" not in script, "no extra (torch) is ever requested"
    assert "--workers 3 " in script
    assert 'S3_BUCKET_PROJECTS="piano-pdfs-prod"' in script
