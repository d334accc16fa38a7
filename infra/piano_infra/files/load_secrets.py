#!/usr/bin/env python3
"""Boot-time secret loader for the API instances (stdlib only: it runs before the app's venv).

Reads /etc/piano/secrets.json ({"project": ..., "secrets": {ENV_VAR: secret_id}}), takes an
access token from the metadata server, fetches each secret's latest version from the Secret
Manager REST API and writes an EnvironmentFile (mode 0600) read by the systemd units.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

METADATA_HOST = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
SECRET_MANAGER = os.environ.get("SECRET_MANAGER_ENDPOINT", "https://secretmanager.googleapis.com")
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"  # noqa: S105
ATTEMPTS = 5
BACKOFF_BASE = float(os.environ.get("LOAD_SECRETS_BACKOFF", "1"))


class FetchError(RuntimeError):
    """A definitive failure (permission denied, secret missing): retrying will not help."""


def _get_json(url: str, headers: dict[str, str]) -> dict[str, object]:
    """GET JSON; retry network errors, 429 and 5xx with backoff (boot-time blips are normal)."""
    last: Exception | None = None
    for attempt in range(ATTEMPTS):
        req = urllib.request.Request(url, headers=headers)  # noqa: S310 - metadata/googleapis URLs
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                body: dict[str, object] = json.load(resp)
                return body
        except urllib.error.HTTPError as exc:
            if exc.code != 429 and exc.code < 500:
                detail = exc.read().decode("utf-8", "replace")[:500]
                raise FetchError(f"GET {url} -> HTTP {exc.code}: {detail}") from exc
            last = exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = exc
        time.sleep(min(BACKOFF_BASE * 2**attempt, 10))
    raise FetchError(f"GET {url} failed after {ATTEMPTS} attempts: {last}")


def access_token() -> str:
    body = _get_json(f"http://{METADATA_HOST}{TOKEN_PATH}", {"Metadata-Flavor": "Google"})
    return str(body["access_token"])


def fetch_secret(project: str, secret_id: str, token: str) -> str:
    url = f"{SECRET_MANAGER}/v1/projects/{project}/secrets/{secret_id}/versions/latest:access"
    body = _get_json(url, {"Authorization": f"Bearer {token}"})
    payload = body["payload"]
    assert isinstance(payload, dict)
    return base64.b64decode(str(payload["data"])).decode("utf-8")


def quote(value: str) -> str:
    """Double-quote for systemd EnvironmentFile; newlines (PEM keys) survive inside quotes."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped.replace("`", "\\`") + '"'


def render(values: dict[str, str]) -> str:
    return "".join(f"{name}={quote(values[name])}\n" for name in sorted(values))


def write_private(path: Path, text: str) -> None:
    """Atomic write with 0600 from the start, so the file is never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1] if len(argv) > 1 else "/etc/piano/secrets.json")
    out_path = Path(argv[2] if len(argv) > 2 else "/etc/piano/secrets.env")
    spec = json.loads(spec_path.read_text())
    try:
        token = access_token()
        values = {
            env_var: fetch_secret(spec["project"], secret_id, token)
            for env_var, secret_id in spec["secrets"].items()
        }
    except FetchError as exc:
        print(f"load-secrets: {exc}", file=sys.stderr)
        return 1
    write_private(out_path, render(values))
    print(f"load-secrets: wrote {len(values)} secrets to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
