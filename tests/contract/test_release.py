"""`make release`: the wheel, the Worker bundle, the lock and a manifest that infra's own
verification accepts, checked against the stack files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from devtools import release
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "infra"))
from piano_infra.release import ReleaseError, verify

VERSION = "9.8.7"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> release.Built:
    out = tmp_path_factory.mktemp("release")
    return release.build_release(VERSION, out, allow_dirty=True)


def _text(built: release.Built, name: str) -> str:
    return (built.directory / name).read_text(encoding="utf-8")


def test_release_holds_what_infra_installs_and_infra_accepts_it(built: release.Built) -> None:
    files = sorted(p.name for p in built.directory.iterdir())
    wheel = f"piano_platform-{VERSION}-py3-none-any.whl"
    assert files == sorted(["manifest.json", "requirements.lock", "worker.js", wheel])
    manifest = json.loads(_text(built, "manifest.json"))
    assert set(manifest) == {
        "version", "git_sha", "schema_head", "wheel",
        "requirements_lock_sha256", "worker_bundle_sha256",
    }  # fmt: skip
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert manifest["git_sha"] == head and manifest["wheel"] == wheel
    shipped = sorted(
        p.stem for p in (REPO_ROOT / "service" / "migrations").glob("*.sql")
        if not p.name.endswith(".rollback.sql")
    )  # fmt: skip
    assert manifest["schema_head"] == shipped[-1]
    assert _text(built, "requirements.lock") == (REPO_ROOT / "requirements.lock").read_text()

    # Infra's own check, on exactly the files CI publishes.
    found = verify(
        VERSION,
        _text(built, "manifest.json"),
        _text(built, "requirements.lock"),
        _text(built, "worker.js"),
    )
    assert (found.version, found.schema_head) == (VERSION, shipped[-1])
    # ... which refuses a bundle or lock from anywhere else.
    with pytest.raises(ReleaseError, match=r"worker\.js does not match"):
        verify(VERSION, _text(built, "manifest.json"), _text(built, "requirements.lock"), "x")
    with pytest.raises(ReleaseError, match="another version"):
        verify("9.8.8", _text(built, "manifest.json").replace(VERSION, "9.8.8", 1), "", "")


def test_the_wheel_carries_the_release_version_and_its_migrations(built: release.Built) -> None:
    with zipfile.ZipFile(built.directory / f"piano_platform-{VERSION}-py3-none-any.whl") as zf:
        names = zf.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        assert Parser().parsestr(zf.read(meta).decode())["Version"] == VERSION
    assert (
        f"service/migrations/{json.loads(_text(built, 'manifest.json'))['schema_head']}.sql"
        in names
    )


def test_the_bundle_is_the_worker_build(built: release.Built) -> None:
    bundle = _text(built, "worker.js")
    assert "export" in bundle and "EDGE_ANALYTICS" in bundle
    assert "import " not in bundle.split("\n", 1)[0]  # bundled: no module imports left


def test_a_stack_must_point_at_the_release(built: release.Built, tmp_path: Path) -> None:
    # The committed dev stack deploys another version: the check says so.
    with pytest.raises(release.ReleaseFailed, match=r"stack dev deploys .* not 9\.8\.7"):
        release.build_release(VERSION, tmp_path / "a", stack="dev", allow_dirty=True)
    infra = tmp_path / "infra"
    infra.mkdir()
    text = (REPO_ROOT / "infra" / "Pulumi.dev.yaml").read_text()
    (infra / "Pulumi.dev.yaml").write_text(
        "\n".join(
            f"  piano:serviceVersion: {VERSION}" if "piano:serviceVersion" in line else line
            for line in text.splitlines()
        )
    )
    again = release.build_release(
        VERSION, tmp_path / "b", stack="dev", infra_dir=infra, allow_dirty=True
    )
    assert again.stacks == {"dev": VERSION}
    shutil.rmtree(tmp_path / "b")


@pytest.mark.parametrize("bad", ["v1.4.0", "1.4.0-rc1", "one"])
def test_versions_must_be_normal_pep440(bad: str) -> None:
    with pytest.raises(release.ReleaseFailed):
        release.check_version(bad)
