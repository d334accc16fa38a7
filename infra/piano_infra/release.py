"""A release: one version name selects the wheel, the Worker bundle and the schema level.

`make release VERSION=…` builds the wheel and the Worker bundle and writes a manifest; CI
publishes the wheel to the Artifact Registry Python repository and the rest to the release
bucket, under one prefix per version:

    gs://<piano:releaseBucket>/piano-platform/<version>/manifest.json
                                                        requirements.lock
                                                        worker.js

manifest.json:

    {"version": "1.4.0", "git_sha": "<40 hex>", "schema_head": "0006_rls",
     "wheel": "piano_platform-1.4.0-py3-none-any.whl",
     "requirements_lock_sha256": "<hex>", "worker_bundle_sha256": "<hex>"}

The program reads these at preview time and refuses a release whose files do not match its
manifest, so `piano:serviceVersion` alone decides what the instances install (wheel + lock),
what the Worker runs (bundle) and which schema the release migration brings the database to.
Rolling back is setting the previous version: all three follow.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

RELEASE_PREFIX = "piano-platform"
MANIFEST = "manifest.json"
REQUIREMENTS_LOCK = "requirements.lock"
WORKER_BUNDLE = "worker.js"
RELEASE_FILES = (MANIFEST, REQUIREMENTS_LOCK, WORKER_BUNDLE)
_GIT_SHA = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class ReleaseRepository:
    """Artifact Registry Python repository holding piano-platform wheels.

    It exists before any stack (wheels are published, then deployed; every stack installs from
    the same repository, so staging and prod run the very artifact dev ran); the program only
    grants read access on it, to the accounts that install releases.
    """

    project: str
    location: str
    name: str

    @property
    def index_url(self) -> str:
        return f"https://{self.location}-python.pkg.dev/{self.project}/{self.name}/simple/"

    def reader(
        self, name: str, member: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> gcp.artifactregistry.RepositoryIamMember:
        return gcp.artifactregistry.RepositoryIamMember(
            name,
            project=self.project,
            location=self.location,
            repository=self.name,
            role="roles/artifactregistry.reader",
            member=member,
            opts=opts,
        )


class ReleaseError(ValueError):
    """The configured release is missing or inconsistent: nothing may be deployed from it."""


@dataclass(frozen=True)
class Release:
    version: str
    git_sha: str
    schema_head: str  # last migration the release ships; the release migration applies up to it
    wheel: str
    requirements_lock: str
    worker_bundle: str

    @property
    def summary(self) -> dict[str, str]:
        return {
            "version": self.version,
            "git_sha": self.git_sha,
            "schema_head": self.schema_head,
            "wheel": self.wheel,
        }


def dns_label(value: str, limit: int = 63) -> str:
    """Lower-case letters, digits and single hyphens (GCP label values, Cloud Run names)."""
    label = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    return label[:limit].rstrip("-")


def object_name(version: str, file: str) -> str:
    return f"{RELEASE_PREFIX}/{version}/{file}"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify(version: str, manifest_text: str, lock: str, bundle: str) -> Release:
    """Build the Release, or say exactly which file does not belong to `version`."""
    try:
        manifest: dict[str, Any] = json.loads(manifest_text)
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"release {version}: manifest.json is not JSON ({exc})") from exc
    if manifest.get("version") != version:
        raise ReleaseError(
            f"release {version}: manifest.json is for version {manifest.get('version')!r}"
        )
    for key in ("git_sha", "schema_head", "wheel"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise ReleaseError(f"release {version}: manifest.json lacks {key}")
    if not _GIT_SHA.match(manifest["git_sha"]):
        raise ReleaseError(f"release {version}: git_sha {manifest['git_sha']!r} is not a commit")
    if not manifest["wheel"].startswith(f"piano_platform-{version}-"):
        raise ReleaseError(f"release {version}: wheel {manifest['wheel']!r} is another version")
    for file, text, key in (
        (REQUIREMENTS_LOCK, lock, "requirements_lock_sha256"),
        (WORKER_BUNDLE, bundle, "worker_bundle_sha256"),
    ):
        if manifest.get(key) != sha256(text):
            raise ReleaseError(
                f"release {version}: {file} does not match manifest.json {key}; "
                "republish the release from one `make release` run"
            )
    return Release(
        version=version,
        git_sha=manifest["git_sha"],
        schema_head=manifest["schema_head"],
        wheel=manifest["wheel"],
        requirements_lock=lock,
        worker_bundle=bundle,
    )


def load_release(bucket: str, version: str) -> Release:
    """Read the release's files from the bucket (a data source: runs in preview too)."""
    texts: dict[str, str] = {}
    for file in RELEASE_FILES:
        name = object_name(version, file)
        try:
            found = gcp.storage.get_bucket_object_content(bucket=bucket, name=name)
        except Exception as exc:
            raise ReleaseError(
                f"release {version}: cannot read gs://{bucket}/{name} ({exc}); publish the "
                "release first (infra/README.md, Releases)"
            ) from exc
        if found.content is None:
            raise ReleaseError(f"release {version}: gs://{bucket}/{name} does not exist")
        texts[file] = found.content
    return verify(version, texts[MANIFEST], texts[REQUIREMENTS_LOCK], texts[WORKER_BUNDLE])
