"""The boot-time secret loader against local fakes of the metadata server and Secret Manager.

The fakes speak the documented wire formats: the metadata token endpoint demands the
`Metadata-Flavor: Google` header and returns {access_token, expires_in, token_type};
`versions/latest:access` returns {name, payload: {data: base64, dataCrc32c}} and Google's
error envelope {error: {code, message, status}} for a missing secret.
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
SECRETS = {"prod-database-url": "postgresql://u:p@db:5432/piano", "prod-jwt-private-key": PEM}


class FakeGoogle(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str]]] = []
    flaky: int = 0

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        type(self).requests.append((self.path, dict(self.headers)))
        if self.path.startswith("/computeMetadata/v1/instance/service-accounts/default/token"):
            if self.headers.get("Metadata-Flavor") != "Google":
                self._send(403, {"error": "Missing Metadata-Flavor:Google header."})
                return
            self._send(200, {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})
            return
        if type(self).flaky > 0:
            type(self).flaky -= 1
            self._send(
                503, {"error": {"code": 503, "message": "unavailable", "status": "UNAVAILABLE"}}
            )
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(
                401, {"error": {"code": 401, "message": "bad token", "status": "UNAUTHENTICATED"}}
            )
            return
        prefix, suffix = "/v1/projects/piano-prod/secrets/", "/versions/latest:access"
        secret = self.path[len(prefix) : -len(suffix)] if self.path.endswith(suffix) else ""
        if not self.path.startswith(prefix) or secret not in SECRETS:
            name = f"projects/piano-prod/secrets/{secret}"
            self._send(
                404,
                {
                    "error": {
                        "code": 404,
                        "message": f"Secret [{name}] not found or has no versions.",
                        "status": "NOT_FOUND",
                    }
                },
            )
            return
        data = base64.b64encode(SECRETS[secret].encode()).decode()
        self._send(
            200,
            {
                "name": f"projects/123456/secrets/{secret}/versions/3",
                "payload": {"data": data, "dataCrc32c": "1234"},
            },
        )


@pytest.fixture
def google() -> Iterator[str]:
    FakeGoogle.requests = []
    FakeGoogle.flaky = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGoogle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _run(tmp_path: Path, host: str, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "secrets.json"
    spec.write_text(json.dumps({"project": "piano-prod", "secrets": secrets}))
    env = {
        "GCE_METADATA_HOST": host,
        "SECRET_MANAGER_ENDPOINT": f"http://{host}",
        "LOAD_SECRETS_BACKOFF": "0.01",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, str(LOADER), str(spec), str(tmp_path / "out" / "secrets.env")],
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


def test_loader_writes_a_private_env_file_with_multiline_pem(google: str, tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        google,
        {"DATABASE_URL": "prod-database-url", "JWT_PRIVATE_KEY": "prod-jwt-private-key"},
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out" / "secrets.env"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    values = _parse_systemd_env(out.read_text())
    assert values == {"DATABASE_URL": SECRETS["prod-database-url"], "JWT_PRIVATE_KEY": PEM}
    token_calls = [h for p, h in FakeGoogle.requests if p.startswith("/computeMetadata")]
    assert token_calls and token_calls[0]["Metadata-Flavor"] == "Google"


def test_loader_retries_transient_errors(google: str, tmp_path: Path) -> None:
    FakeGoogle.flaky = 2
    result = _run(tmp_path, google, {"DATABASE_URL": "prod-database-url"})
    assert result.returncode == 0, result.stderr
    assert len([p for p, _ in FakeGoogle.requests if p.startswith("/v1/")]) == 3


def test_loader_fails_fast_and_writes_nothing_when_a_secret_is_missing(
    google: str, tmp_path: Path
) -> None:
    result = _run(
        tmp_path, google, {"DATABASE_URL": "prod-database-url", "OPENAI_API_KEY": "prod-nope"}
    )
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr and "NOT_FOUND" in result.stderr
    assert not (tmp_path / "out" / "secrets.env").exists()
    assert len([p for p, _ in FakeGoogle.requests if "prod-nope" in p]) == 1


def test_rendered_startup_script_is_valid_bash_and_embeds_the_loader() -> None:
    script = render(
        StartupSpec(
            version="1.2.3",
            project="piano-prod",
            package_index="https://europe-west1-python.pkg.dev/piano-prod/piano-prod/simple/",
            secret_ids={"DATABASE_URL": "prod-database-url"},
            plain_env={"ENVIRONMENT": "prod", "S3_BUCKET_PROJECTS": "piano-pdfs-prod"},
            extra_index="https://mirror.example.net/torch-cpu/simple/",
        )
    )
    subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=30)
    assert LOADER.read_text() in script
    assert "chmod 0600 /etc/piano/secrets.json" in script
    assert "--no-deps --index-url" in script
    assert (
        "pip install -q --extra-index-url https://mirror.example.net/torch-cpu/simple/ "
        "piano-platform==1.2.3\n" in script
    )
    assert 'S3_BUCKET_PROJECTS="piano-pdfs-prod"' in script
