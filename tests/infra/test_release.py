"""A release is one version name: it selects the wheel (and its lock), the Worker bundle and the
schema level; its migration runs once, before the instance group rolls; rolling back is setting
the previous version. Run under pulumi mocks with a fake release bucket behind the real data
source."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pulumi
import pytest
from infra_harness import (
    INFRA,
    RecordingMocks,
    ReleaseStore,
    release_files,
    run_stack,
    stack_config,
    unwrap,
)
from piano_infra.migrations import job_name
from piano_infra.release import ReleaseError, verify

LOCK = (INFRA.parent / "requirements.lock").read_text()
BUCKET = stack_config("prod")["piano:releaseBucket"]
JOB = "gcp:cloudrunv2/job:Job"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"


def _bundle(version: str) -> str:
    return f'export default {{ fetch() {{ return new Response("edge {version}"); }} }};\n'


def _store(*releases: tuple[str, str, str]) -> ReleaseStore:
    """(version, schema head, extra lock line) per published release."""
    store = ReleaseStore()
    for version, schema_head, extra in releases:
        store.publish(
            BUCKET,
            version,
            release_files(version, schema_head, bundle=_bundle(version), lock=LOCK + extra),
        )
    return store


def _migration_job(m: RecordingMocks) -> Any:
    (job,) = [j for j in m.of_type(JOB) if j.name == "migration-job"]
    return job


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueSource")) for e in container["envs"]}


# --- the manifest decides ---------------------------------------------------------------------


def test_verify_accepts_a_consistent_release_and_names_each_inconsistency() -> None:
    files = release_files("1.4.0", "0006_rls", bundle=_bundle("1.4.0"), lock=LOCK)
    release = verify("1.4.0", files["manifest.json"], LOCK, _bundle("1.4.0"))
    assert (release.version, release.schema_head) == ("1.4.0", "0006_rls")
    assert release.wheel == "piano_platform-1.4.0-py3-none-any.whl"
    manifest = json.loads(files["manifest.json"])
    cases = [
        ("1.5.0", files["manifest.json"], LOCK, _bundle("1.4.0"), "is for version '1.4.0'"),
        ("1.4.0", files["manifest.json"], LOCK, _bundle("1.5.0"), r"worker\.js does not match"),
        ("1.4.0", files["manifest.json"], LOCK + "x==1\n", _bundle("1.4.0"), "requirements.lock"),
        ("1.4.0", "{not json", LOCK, _bundle("1.4.0"), "not JSON"),
        (
            "1.4.0",
            json.dumps({**manifest, "schema_head": ""}),
            LOCK,
            _bundle("1.4.0"),
            "schema_head",
        ),
        ("1.4.0", json.dumps({**manifest, "git_sha": "main"}), LOCK, _bundle("1.4.0"), "commit"),
        (
            "1.4.0",
            json.dumps({**manifest, "wheel": "piano_platform-1.3.0-py3-none-any.whl"}),
            LOCK,
            _bundle("1.4.0"),
            "another version",
        ),
    ]
    for version, manifest_text, lock, bundle, message in cases:
        with pytest.raises(ReleaseError, match=message):
            verify(version, manifest_text, lock, bundle)


@pulumi.runtime.test
def test_program_reads_the_release_from_the_bucket_and_refuses_an_unpublished_version() -> (
    pulumi.Output[None]
):
    store = _store(("1.4.0", "0005_chat", ""))
    mocks = RecordingMocks(store=store)
    with pytest.raises(ReleaseError, match=r"gs://piano-releases-000000/piano-platform/9\.9\.9/"):
        run_stack("prod", mocks=mocks, overrides={"piano:serviceVersion": "9.9.9"})
    assert mocks.resources == [], "nothing is created from a release that is not there"
    store.reads.clear()

    def check(m: RecordingMocks) -> None:
        assert sorted(store.reads) == [
            f"gs://piano-releases-000000/piano-platform/1.4.0/{f}"
            for f in ("manifest.json", "requirements.lock", "worker.js")
        ]

    return run_stack("prod", overrides={"piano:serviceVersion": "1.4.0"}, store=store).then(check)


@pulumi.runtime.test
def test_a_tampered_bundle_stops_the_deployment() -> pulumi.Output[None]:
    store = _store(("1.4.0", "0005_chat", ""))
    store.objects[(BUCKET, "piano-platform/1.4.0/worker.js")] = _bundle("evil")
    mocks = RecordingMocks(store=store)
    with pytest.raises(ReleaseError, match=r"worker\.js does not match"):
        run_stack("prod", mocks=mocks, overrides={"piano:serviceVersion": "1.4.0"})
    assert mocks.resources == []
    return pulumi.Output.from_input(None)


# --- migrations: once per release, before the fleet --------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pulumi.runtime.test
def test_migration_job_runs_the_release_migrate_before_the_instance_group(
    stack: str,
) -> pulumi.Output[None]:
    version = stack_config(stack)["piano:serviceVersion"]

    def check(m: RecordingMocks) -> None:
        job = _migration_job(m)
        inputs = job.inputs
        assert inputs["name"] == job_name(stack, version) == f"piano-{stack}-migrate-0-1-0"
        # Pulumi waits for the execution to *succeed* (not just start) ...
        assert inputs["runExecutionToken"] == "run"
        assert "startExecutionToken" not in inputs
        assert len(inputs["name"]) + 1 + len(inputs["runExecutionToken"]) < 63
        # ... and the fleet and the Worker wait for Pulumi: migrate -> MIG -> Worker script.
        assert "migration-job" in m.depends_on["compute-mig"]
        assert "compute-mig" in m.depends_on["edge-script"]
        # every change is a fresh job (a fresh execution); same name, so delete first
        assert m.options["migration-job"].replace_on_changes == ["*"]
        assert m.options["migration-job"].delete_before_replace is True
        assert inputs["deletionProtection"] is False
        template = inputs["template"]["template"]
        assert template["maxRetries"] == 0
        assert (
            template["serviceAccount"] == f"piano-migrate-{stack}@fixture.iam.gserviceaccount.com"
        )
        assert template["vpcAccess"] == {
            "networkInterfaces": [{"network": "network-vpc-id", "subnetwork": "network-subnet-id"}],
            "egress": "ALL_TRAFFIC",  # out through Cloud NAT's allow-listed addresses
        }
        (container,) = template["containers"]
        script = container["args"][0]
        assert container["commands"] == ["/bin/bash", "-c"]
        assert script.rstrip().endswith("exec /tmp/piano-venv/bin/python -m service.migrate")
        assert "--no-deps --index-url" in script and f"piano-platform=={version}" in script
        assert "--constraint /tmp/requirements.lock" in script
        subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=30)
        env = _env(container)
        assert env["PIANO_VERSION"] == version
        assert env["PIANO_SCHEMA_HEAD"] == "0005_chat"
        assert env["PIANO_REQUIREMENTS_LOCK"] == LOCK
        ref = env["DATABASE_URL"]["secretKeyRef"]
        assert ref["secret"] == f"{stack}-database-url"
        assert re.fullmatch(r"\d+", ref["version"])  # pinned, never "latest"
        # the grants it needs are in place before it runs
        needs = m.depends_on["migration-job"]
        assert "migration-releases-reader" in needs
        assert f"secrets-{stack}-database-url-accessor-migrate" in needs

    return run_stack(stack).then(check)


# --- the rollback rehearsal ------------------------------------------------------------------


def _fingerprint(m: RecordingMocks) -> dict[str, Any]:
    template = m.one(TEMPLATE).inputs
    script = template["metadataStartupScript"]
    lock = script.split("cat > /opt/piano/requirements.lock <<'PIANO_EOF'\n", 1)[1].split(
        "PIANO_EOF\n", 1
    )[0]
    job = _migration_job(m).inputs
    (container,) = job["template"]["template"]["containers"]
    env = _env(container)
    worker = m.one("cloudflare:index/workersScript:WorkersScript").inputs
    return {
        "wheel": sorted(set(re.findall(r"piano-platform==(\S+)", script))),
        "lock": lock,
        "template": (template["labels"]["version"], template["labels"]["schema"]),
        "worker": unwrap(worker["content"]),
        "migration": (
            job["name"],
            env["PIANO_VERSION"],
            env["PIANO_SCHEMA_HEAD"],
            env["PIANO_REQUIREMENTS_LOCK"],
            sorted(set(re.findall(r"piano-platform==(\S+)", container["args"][0]))),
        ),
        "labels": (job["labels"]["version"], job["labels"]["schema"]),
    }


def test_rollback_rehearsal_n_to_n_plus_1_to_n_moves_wheel_worker_and_schema_together() -> None:
    """Deploy 1.4.0, upgrade to 1.5.0, roll back to 1.4.0: one setting moves all three."""
    store = _store(("1.4.0", "0005_chat", ""), ("1.5.0", "0006_rls", "extra-dep==1.0.0\n"))
    seen: list[dict[str, Any]] = []

    @pulumi.runtime.test
    def deploy(version: str) -> pulumi.Output[None]:
        overrides: dict[str, str | None] = {"piano:serviceVersion": version}
        return run_stack("prod", overrides=overrides, store=store).then(
            lambda m: seen.append(_fingerprint(m))
        )

    for version in ("1.4.0", "1.5.0", "1.4.0"):
        deploy(version)
    n, upgraded, rolled_back = seen
    assert rolled_back == n, "rolling back restores exactly what N deployed"
    for part in n:
        assert upgraded[part] != n[part], f"{part} did not move with the version"
    for fingerprint, version, schema in (
        (n, "1.4.0", "0005_chat"),
        (upgraded, "1.5.0", "0006_rls"),
    ):
        label = version.replace(".", "-")
        assert fingerprint["wheel"] == [version]
        assert fingerprint["template"] == (label, schema.replace("_", "-"))
        assert fingerprint["worker"] == _bundle(version)
        assert fingerprint["migration"] == (
            f"piano-prod-migrate-{label}",
            version,
            schema,
            fingerprint["lock"],
            [version],
        )
        assert fingerprint["labels"] == (label, schema.replace("_", "-"))
    assert upgraded["lock"].endswith("extra-dep==1.0.0\n")
