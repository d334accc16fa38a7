"""Installing a release into a virtualenv: the same commands on the instances and in the
release migration job, so both run exactly the wheel and dependency set of the release."""

from __future__ import annotations

import shlex

PACKAGE = "piano-platform"
# An access token for Artifact Registry, from the metadata server (GCE and Cloud Run alike),
# with Python because the job's image has no curl. GCE_METADATA_HOST is the variable Google's
# own libraries honour for another metadata server (the tests use it).
_FETCH_ACCESS = (
    "import json, os, urllib.request as u; "
    'host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal"); '
    'r = u.Request(f"http://{host}/computeMetadata/v1/instance/'
    'service-accounts/default/token", headers={"Metadata-Flavor": "Google"}); '
    'print(json.load(u.urlopen(r))["access_token"])'
)


def install_commands(
    *,
    python: str,
    venv: str,
    version: str,
    package_index: str,
    lock_path: str,
    extra_index: str | None,
) -> str:
    """Bash that (re)creates `venv` with the release installed.

    The wheel comes only from our Artifact Registry repository (no dependency confusion); its
    dependencies come from the default index held to the release's requirements.lock, so every
    VM and the migration job resolve the same versions. No extra is requested: the torch-based
    local embedder (`local-embeddings`) is never installed in a deployed stack. The extra index
    serves the CPU-only torch build the lock pins, should a release still depend on it.
    """
    pin = shlex.quote(f"{PACKAGE}=={version}")
    extra = f"--extra-index-url {shlex.quote(extra_index)} " if extra_index else ""
    return (
        f"rm -rf {venv}\n"
        f"{python} -m venv {venv}\n"
        f"TOKEN=$({python} -c {shlex.quote(_FETCH_ACCESS)})\n"
        f"INDEX={shlex.quote(package_index)}\n"
        f"{venv}/bin/pip install -q --no-deps "
        f'--index-url "${{INDEX%%://*}}://oauth2accesstoken:${{TOKEN}}@${{INDEX#*://}}" {pin}\n'
        f"{venv}/bin/pip install -q --constraint {lock_path} {extra}{pin}\n"
    )
