#!/usr/bin/env python3
"""Boot-time secret loader for the instances (stdlib only: it runs before the app's venv).

The instance template's metadata attribute `piano-secret-versions` names the exact secret
version each env var uses ({ENV_VAR: "projects/…/secrets/…/versions/N"}); a rotation creates a
new version, hence a new template, hence a surge rollout. The loader reads that attribute and
an access token from the metadata server, fetches each version from the Secret Manager REST API
and writes either one EnvironmentFile (`env <path>`, read by the systemd units) or one file per
secret (`files <dir>`, e.g. Prometheus' bearer token), all mode 0600.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

METADATA_HOST = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
SECRET_MANAGER = os.environ.get("SECRET_MANAGER_ENDPOINT", "https://secretmanager.googleapis.com")
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"  # noqa: S105
VERSIONS_PATH = "/computeMetadata/v1/instance/attributes/piano-secret-versions"
VERSION_NAME = re.compile(r"^projects/[^/]+/secrets/[A-Za-z0-9_-]+/versions/[0-9]+$")
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


def pinned_versions() -> dict[str, str]:
    """ENV_VAR -> secret version name, from the instance template's metadata."""
    body = _get_json(f"http://{METADATA_HOST}{VERSIONS_PATH}", {"Metadata-Flavor": "Google"})
    versions = {str(k): str(v) for k, v in body.items()}
    bad = sorted(k for k, v in versions.items() if not VERSION_NAME.match(v))
    if bad:
        raise FetchError(f"piano-secret-versions: not a secret version name for {', '.join(bad)}")
    return versions


def fetch_secret(version_name: str, token: str) -> str:
    url = f"{SECRET_MANAGER}/v1/{version_name}:access"
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


def file_name(env_var: str) -> str:
    """METRICS_TOKEN -> metrics-token"""
    return env_var.lower().replace("_", "-")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("env", "files"):
        print("usage: load_secrets.py env <env-file> | files <dir>", file=sys.stderr)
        return 2
    mode, out = argv[1], Path(argv[2])
    try:
        versions = pinned_versions()
        token = access_token()
        values = {env_var: fetch_secret(name, token) for env_var, name in versions.items()}
    except FetchError as exc:
        print(f"load-secrets: {exc}", file=sys.stderr)
        return 1
    if mode == "env":
        write_private(out, render(values))
    else:
        for env_var, value in values.items():
            write_private(out / file_name(env_var), value)
    print(f"load-secrets: wrote {len(values)} secrets to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
