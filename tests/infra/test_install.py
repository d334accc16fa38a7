"""The commands that install a release on the instances and in the migration job, run for real
with pip: the wheel only from the (token-authenticated) release repository, its dependencies from
the default index held to the release's lock.

The release repository is a local PEP 503 index that demands Artifact Registry's basic auth
(`oauth2accesstoken:<access token>`); the token comes from a local fake of the metadata
server; the default index is a local directory index offering two versions of a dependency.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from piano_infra.install import install_commands

TOKEN = "ya29.release-token"


def _wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def _simple_index(root: Path, wheels: dict[str, list[Path]]) -> None:
    for project, files in wheels.items():
        page = root / project
        page.mkdir(parents=True)
        links = "".join(f'<a href="{w.resolve().as_uri()}">{w.name}</a>\n' for w in files)
        (page / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")


class Google(BaseHTTPRequestHandler):
    """The metadata token endpoint and an Artifact Registry Python repository."""

    wheel: Path
    requests: list[tuple[str, bool]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, body: bytes, ctype: str = "text/html") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if code == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="artifactregistry"')
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self._reply(403, b"Missing Metadata-Flavor:Google header.")
            body = json.dumps({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})
            return self._reply(200, body.encode(), "application/json")
        expected = "Basic " + base64.b64encode(f"oauth2accesstoken:{TOKEN}".encode()).decode()
        authorised = self.headers.get("Authorization") == expected
        type(self).requests.append((self.path, authorised))
        if not authorised:
            return self._reply(401, b"Unauthorized")
        if self.path.rstrip("/") == "/simple/piano-platform":
            link = f'<a href="/files/{self.wheel.name}">{self.wheel.name}</a>'
            return self._reply(200, f"<html><body>{link}</body></html>".encode())
        if self.path == f"/files/{self.wheel.name}":
            return self._reply(200, self.wheel.read_bytes(), "application/octet-stream")
        return self._reply(404, b"Not Found")


@pytest.fixture
def release(tmp_path: Path) -> Iterator[dict[str, Path | str]]:
    builds = tmp_path / "builds"
    builds.mkdir()
    Google.wheel = _wheel(builds, "piano-platform", "1.2.3", requires=("tinydep",))
    Google.requests = []
    public = tmp_path / "pypi"
    _simple_index(
        public,
        {"tinydep": [_wheel(builds, "tinydep", "1.0.0"), _wheel(builds, "tinydep", "2.0.0")]},
    )
    extra = tmp_path / "torch-cpu"
    extra.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Google)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    yield {"host": host, "public": public, "extra": extra, "tmp": tmp_path}
    server.shutdown()


def _install(
    release: dict[str, Path | str], lock: str, token_host: str | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    tmp = Path(release["tmp"])
    lock_path = tmp / "requirements.lock"
    lock_path.write_text(lock)
    venv = tmp / "venv"
    script = "set -euo pipefail\n" + install_commands(
        python=sys.executable,
        venv=str(venv),
        version="1.2.3",
        package_index=f"http://{release['host']}/simple/",
        lock_path=str(lock_path),
        extra_index=Path(release["extra"]).as_uri(),
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "GCE_METADATA_HOST": token_host or str(release["host"]),
        # The machine's own pip configuration must not leak in: only the indexes above.
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": Path(release["public"]).as_uri(),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return result, venv


def _installed(venv: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return {p["name"]: p["version"] for p in json.loads(out.stdout)}


def test_release_installs_from_the_repository_with_the_lock_as_constraints(
    release: dict[str, Path | str],
) -> None:
    result, venv = _install(release, "tinydep==1.0.0\n")
    assert result.returncode == 0, result.stderr
    installed = _installed(venv)
    assert installed["piano-platform"] == "1.2.3"
    assert installed["tinydep"] == "1.0.0", "the lock, not the newest version, decides"
    # the release repository was asked for the wheel only (its dependency came from the default
    # index), and handed it over for the metadata server's token
    paths = {path for path, _ in Google.requests}
    assert paths <= {"/simple/piano-platform/", f"/files/{Google.wheel.name}"}
    assert (f"/files/{Google.wheel.name}", True) in Google.requests


def test_without_the_lock_pip_would_pick_another_dependency_set(
    release: dict[str, Path | str],
) -> None:
    result, venv = _install(release, "# empty lock\n")
    assert result.returncode == 0, result.stderr
    assert _installed(venv)["tinydep"] == "2.0.0"


def test_a_wrong_token_installs_nothing(release: dict[str, Path | str], tmp_path: Path) -> None:
    class WrongToken(Google):
        def do_GET(self) -> None:
            if "computeMetadata" in self.path:
                body = json.dumps({"access_token": "ya29.someone-else", "expires_in": 1})
                return self._reply(200, body.encode(), "application/json")
            return self._reply(404, b"")

    other = ThreadingHTTPServer(("127.0.0.1", 0), WrongToken)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        result, venv = _install(release, "tinydep==1.0.0\n", f"127.0.0.1:{other.server_address[1]}")
    finally:
        other.shutdown()
    assert result.returncode != 0
    assert "piano-platform" not in _installed(venv)
    assert Google.requests and not any(ok for _, ok in Google.requests)
