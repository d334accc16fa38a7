"""`make release VERSION=1.4.0 [STACK=dev]`: build one release, the unit infra deploys.

Writes into dist/release/<version>/:

- `piano_platform-<version>-py3-none-any.whl`: the runtime package and its migrations, built from
  a clean copy of the sources with the version stamped in (nothing else from the working tree);
- `worker.js`: the edge Worker bundle (esbuild, as `npm run build`);
- `requirements.lock`: the exact dependency set the instances install the wheel with;
- `manifest.json`: version, git SHA, schema head (the newest migration in the wheel), wheel
  file name and the SHA-256 of the lock and the bundle.

The manifest is checked with infra's own verification (`piano_infra.release.verify`, what
`pulumi preview` runs on the published files), and the stack files are read to say which stacks
point at this version; with `--stack`, that stack must (`piano:serviceVersion`). Publishing is
CI's step (infra/README.md, Releases). A dirty working tree is refused: the manifest names a
commit, so the artifacts must be that commit.

    python -m devtools.release 1.4.0 [--stack dev] [--out dist/release] [--allow-dirty]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version
from yoyo import read_migrations

from devtools import REPO_ROOT

INFRA_DIR = REPO_ROOT / "infra"
WORKER_DIR = REPO_ROOT / "worker"
LOCK = REPO_ROOT / "requirements.lock"
MANIFEST = "manifest.json"
BUNDLE = "worker.js"
LOCK_NAME = "requirements.lock"
_VERSION_LINE = re.compile(r'^version = "[^"]*"$', re.M)


class ReleaseFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Built:
    directory: Path
    manifest: dict[str, str]
    stacks: dict[str, str]  # stack -> its piano:serviceVersion


def _run(argv: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - our own tools
        argv, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise ReleaseFailed(f"{' '.join(argv[:3])}… failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def check_version(version: str) -> str:
    """A PEP 440 version in its normal form: it names the wheel file exactly."""
    try:
        normal = str(Version(version))
    except InvalidVersion as exc:
        raise ReleaseFailed(f"{version!r} is not a PEP 440 version (e.g. 1.4.0)") from exc
    if normal != version:
        raise ReleaseFailed(f"write the version as {normal!r} (its normal form), not {version!r}")
    return version


def git_sha(allow_dirty: bool) -> str:
    sha = _run(["git", "rev-parse", "HEAD"], REPO_ROOT).strip()
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], REPO_ROOT).strip()
    if dirty and not allow_dirty:
        raise ReleaseFailed(
            "the working tree has uncommitted changes; commit them (the manifest names a commit)"
        )
    return sha


def build_wheel(version: str, out: Path) -> tuple[Path, str]:
    """The wheel from a clean copy of the sources, the version stamped in; and its schema head."""
    with tempfile.TemporaryDirectory(prefix="release-src-") as tmp:
        src = Path(tmp)
        pyproject = (REPO_ROOT / "pyproject.toml").read_text()
        if not _VERSION_LINE.search(pyproject):
            raise ReleaseFailed('pyproject.toml has no `version = "…"` line to stamp')
        (src / "pyproject.toml").write_text(
            _VERSION_LINE.sub(f'version = "{version}"', pyproject, count=1)
        )
        shutil.copy(REPO_ROOT / "README.md", src / "README.md")
        shutil.copytree(
            REPO_ROOT / "service",
            src / "service",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        migrations = read_migrations(str(src / "service" / "migrations"))
        if len(migrations) == 0:
            raise ReleaseFailed("service/migrations holds no migrations")
        schema_head = migrations[-1].id
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
             "-w", str(out), str(src)]
        )  # fmt: skip
    wheel = out / f"piano_platform-{version}-py3-none-any.whl"
    if not wheel.is_file():
        raise ReleaseFailed(f"pip built no {wheel.name} in {out}")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {Path(n).stem for n in zf.namelist() if n.startswith("service/migrations/")}
    if schema_head not in shipped:
        raise ReleaseFailed(f"the wheel lacks its schema head {schema_head}")
    return wheel, schema_head


def build_bundle(out: Path) -> Path:
    """The Worker bundle exactly as `npm run build` makes it (worker/scripts/build.mjs)."""
    target = out / BUNDLE
    build = (WORKER_DIR / "scripts" / "build.mjs").as_uri()
    with tempfile.TemporaryDirectory(prefix="release-bundle-") as tmp:
        script = Path(tmp) / "bundle.mjs"
        script.write_text(
            f"const {{ buildWorker }} = await import({json.dumps(build)});\n"
            f"await buildWorker({{ outfile: {json.dumps(str(target))} }});\n"
        )
        _run(["node", str(script)], WORKER_DIR)
    return target


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stack_versions(infra_dir: Path) -> dict[str, str]:
    """{stack: piano:serviceVersion} of every Pulumi.<stack>.yaml."""
    found: dict[str, str] = {}
    for path in sorted(infra_dir.glob("Pulumi.*.yaml")):
        config: dict[str, Any] = (yaml.safe_load(path.read_text()) or {}).get("config", {})
        found[path.name.split(".")[1]] = str(config.get("piano:serviceVersion", ""))
    return found


def verify_with_infra(version: str, directory: Path) -> None:
    """What `pulumi preview` does with the published files (piano_infra.release.verify)."""
    sys.path.insert(0, str(INFRA_DIR))
    try:
        from piano_infra.release import ReleaseError, verify
    finally:
        sys.path.remove(str(INFRA_DIR))
    try:
        verify(
            version,
            (directory / MANIFEST).read_text(encoding="utf-8"),
            (directory / LOCK_NAME).read_text(encoding="utf-8"),
            (directory / BUNDLE).read_text(encoding="utf-8"),
        )
    except ReleaseError as exc:
        raise ReleaseFailed(f"infra refuses this release: {exc}") from exc


def build_release(
    version: str,
    out_root: Path,
    *,
    stack: str | None = None,
    infra_dir: Path = INFRA_DIR,
    allow_dirty: bool = False,
) -> Built:
    check_version(version)
    sha = git_sha(allow_dirty)
    out = out_root / version
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    wheel, schema_head = build_wheel(version, out)
    bundle = build_bundle(out)
    lock = shutil.copy(LOCK, out / LOCK_NAME)
    manifest = {
        "version": version,
        "git_sha": sha,
        "schema_head": schema_head,
        "wheel": wheel.name,
        "requirements_lock_sha256": sha256(Path(lock)),
        "worker_bundle_sha256": sha256(bundle),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    verify_with_infra(version, out)
    stacks = stack_versions(infra_dir)
    if stack is not None:
        if stack not in stacks:
            raise ReleaseFailed(f"no infra/Pulumi.{stack}.yaml")
        if stacks[stack] != version:
            raise ReleaseFailed(
                f"stack {stack} deploys {stacks[stack] or 'nothing'} (piano:serviceVersion), not "
                f"{version}: pulumi config set piano:serviceVersion {version} --stack {stack}"
            )
    return Built(out, manifest, stacks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("version")
    parser.add_argument("--stack", help="fail unless this stack's piano:serviceVersion is it")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist" / "release")
    parser.add_argument("--infra-dir", type=Path, default=INFRA_DIR)
    parser.add_argument("--allow-dirty", action="store_true", help="tests only")
    args = parser.parse_args(argv)
    try:
        built = build_release(
            args.version,
            args.out,
            stack=args.stack,
            infra_dir=args.infra_dir,
            allow_dirty=args.allow_dirty,
        )
    except ReleaseFailed as exc:
        print(f"release failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(built.manifest, indent=2))
    pointing = [s for s, v in built.stacks.items() if v == args.version]
    others = {s: v for s, v in built.stacks.items() if v != args.version}
    print(f"==> release {args.version} in {built.directory}; verified as infra verifies it")
    print(f"==> stacks deploying it: {', '.join(pointing) or 'none yet'}; others: {others}")
    print("==> publish (CI): twine upload the wheel, gcloud storage cp manifest.json, "
          "requirements.lock and worker.js (infra/README.md, Releases)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
