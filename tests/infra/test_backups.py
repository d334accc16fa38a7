"""The weekly database dump: the bucket the runbooks use, its retention, a job whose account can
write only there, the schedule; and the dump script itself against a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pulumi
import pytest
from infra_harness import RecordingMocks, run_stack
from piano_infra.backups import backup_script

from devtools.postgres import pg_binary, start_embedded

STACKS = ["dev", "staging", "prod"]
SA = "@fixture.iam.gserviceaccount.com"
RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_backups_bucket_has_retention_and_is_private(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        bucket = m.one("gcp:storage/bucket:Bucket")
        inputs = bucket.inputs
        assert inputs["name"] == f"piano-{stack}-backups"  # what the runbooks use
        assert inputs["location"] == "europe-west1"
        assert inputs["publicAccessPrevention"] == "enforced"
        assert inputs["uniformBucketLevelAccess"] is True
        # no dump younger than 30 days can be deleted or overwritten, by anyone
        assert inputs["retentionPolicy"] == {"retentionPeriod": str(30 * 86400)}
        assert inputs["lifecycleRules"] == [
            {"action": {"type": "Delete"}, "condition": {"age": 37}}
        ]
        assert inputs["forceDestroy"] is False
        assert (bucket.name in m.protected) == (stack == "prod")

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_backup_account_can_write_only_to_the_backups_bucket(stack: str) -> pulumi.Output[None]:
    backup = f"serviceAccount:piano-backup-{stack}{SA}"

    def check(m: RecordingMocks) -> None:
        grants = [
            r
            for r in m.resources
            if r.inputs.get("member") == backup or backup in (r.inputs.get("members") or [])
        ]
        by_type = {(r.type, r.inputs.get("role")) for r in grants}
        assert by_type == {
            ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.objectCreator"),
            ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.objectViewer"),
            (
                "gcp:secretmanager/secretIamMember:SecretIamMember",
                "roles/secretmanager.secretAccessor",
            ),
        }
        for grant in grants:
            if grant.type.startswith("gcp:storage"):
                assert grant.inputs["bucket"] == f"piano-{stack}-backups"
            else:
                assert grant.inputs["secretId"] == f"{stack}-database-url"

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_weekly_schedule_runs_the_dump_job(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        (job,) = [j for j in m.of_type("gcp:cloudrunv2/job:Job") if j.name == "backups-job"]
        template = job.inputs["template"]["template"]
        assert job.inputs["name"] == f"piano-{stack}-backup"
        assert template["serviceAccount"] == f"piano-backup-{stack}{SA}"
        assert template["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"
        assert template["vpcAccess"]["egress"] == "ALL_TRAFFIC"
        assert template["volumes"] == [
            {"name": "backups", "gcs": {"bucket": f"piano-{stack}-backups", "readOnly": False}}
        ]
        (container,) = template["containers"]
        assert container["image"].startswith("postgres:17")  # pg_dump >= Supabase's 15/17
        assert container["volumeMounts"] == [{"name": "backups", "mountPath": "/backups"}]
        assert container["args"] == [backup_script(stack)]
        (env,) = container["envs"]
        assert env["name"] == "DATABASE_URL"
        assert env["valueSource"]["secretKeyRef"]["secret"] == f"{stack}-database-url"
        schedule = m.one("gcp:cloudscheduler/job:Job").inputs
        assert schedule["schedule"] == "0 3 * * 0"  # weekly, Sunday 03:00
        assert schedule["timeZone"] == "Etc/UTC"
        target = schedule["httpTarget"]
        assert target["httpMethod"] == "POST"
        assert target["uri"] == (
            f"https://run.googleapis.com/v2/projects/piano-{stack}-000000/locations/"
            f"europe-west1/jobs/piano-{stack}-backup:run"
        )
        assert target["oauthToken"]["serviceAccountEmail"] == f"piano-sched-{stack}{SA}"
        invoker = m.one("gcp:cloudrunv2/jobIamMember:JobIamMember").inputs
        assert (invoker["role"], invoker["member"]) == (
            "roles/run.invoker",
            f"serviceAccount:piano-sched-{stack}{SA}",
        )
        assert "backups-scheduler-invoker" in m.depends_on["backups-schedule"]

    return run_stack(stack).then(check)


def test_runbooks_restore_from_the_bucket_and_file_names_the_job_writes() -> None:
    text = (RUNBOOKS / "procedures" / "database-backup-and-restore.md").read_text()
    assert "gs://piano-${ENV}-backups/" in text
    assert "piano-${ENV}-${STAMP}.dump" in text
    assert 'NAME="piano-prod-${STAMP}.dump"' in backup_script("prod")


def _pg_bin() -> Path | None:
    """The embedded server's own client binaries: pg_dump refuses a newer server (the reason
    the job's image is PostgreSQL 17 for Supabase's 15/17)."""
    try:
        return Path(pg_binary("pg_dump")).parent
    except FileNotFoundError:
        return None


def test_dump_script_stores_only_a_readable_dump(tmp_path: Path) -> None:
    """The job's script against a real PostgreSQL: a verified dump lands in the mount; with a
    database that cannot be dumped, nothing lands there."""
    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip("no PostgreSQL client binaries in this environment")
    url = start_embedded(tmp_path / "pg", cleanup="delete")
    subprocess.run(
        [str(pg_bin / "psql"), url, "-v", "ON_ERROR_STOP=1", "-c",
         "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    mount = tmp_path / "backups"
    mount.mkdir()
    script = backup_script("prod").replace("/backups/", f"{mount}/")
    env = {**os.environ, "PATH": f"{pg_bin}:{os.environ['PATH']}", "DATABASE_URL": url}
    ok = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    (dump,) = mount.iterdir()
    assert dump.name.startswith("piano-prod-") and dump.name.endswith(".dump")
    listing = subprocess.run(
        [str(pg_bin / "pg_restore"), "--list", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "TABLE DATA public t" in listing.stdout
    dump.unlink()
    env["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/no_such_database"
    failed = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert failed.returncode != 0
    assert list(mount.iterdir()) == []
