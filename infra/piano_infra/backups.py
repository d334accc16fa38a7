"""Weekly logical backups of the Supabase database into gs://piano-<env>-backups.

Supabase keeps its own daily backups / PITR; this dump is the portable copy the runbooks restore
(runbooks/procedures/database-backup-and-restore.md, disaster-recovery-drill.md). A Cloud
Scheduler job runs a Cloud Run job every week: `pg_dump` to the container's disk, `pg_restore
--list` to prove the dump is readable, then a copy into the bucket (mounted with Cloud Storage
FUSE). Its service account can create and read objects in that bucket and nothing else; the
bucket's retention policy means no one, that account included, can delete or overwrite a dump
younger than the retention period.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from piano_infra.cloud_run import JobEgress, PinnedSecret
from piano_infra.component import PlatformComponent

MOUNT = "/backups"
DAY_SEC = 24 * 60 * 60
# Dumps are deleted this long after the retention period ends (the lifecycle rule).
EXTRA_DAYS_BEFORE_DELETE = 7
# Roles of the backup job's account on the backups bucket (and nowhere else): create objects,
# and read/list them, which Cloud Storage FUSE needs to write a file.
BACKUP_WRITER_ROLES = ("roles/storage.objectCreator", "roles/storage.objectViewer")
JOB_TIMEOUT = "3600s"


def bucket_name(env: str) -> str:
    return f"piano-{env}-backups"


def backup_script(env: str) -> str:
    return (
        "set -euo pipefail\n"
        'STAMP="$(date -u +%Y%m%dT%H%M%SZ)"\n'
        f'NAME="piano-{env}-${{STAMP}}.dump"\n'
        # A dump takes longer than any statement timeout the service's role may carry.
        'PGOPTIONS="-c statement_timeout=0" pg_dump --format=custom --no-owner --no-privileges '
        '--file "/tmp/${NAME}" "$DATABASE_URL"\n'
        "# An unreadable dump is never stored (it could not be deleted for the retention period).\n"
        'pg_restore --list "/tmp/${NAME}" > /dev/null\n'
        f'cp "/tmp/${{NAME}}" "{MOUNT}/${{NAME}}"\n'
        'echo "backup: ${NAME} $(stat -c %s "/tmp/${NAME}") bytes"\n'
    )


@dataclass
class BackupsArgs:
    env: str
    project: str
    region: str
    labels: dict[str, str]
    retention_days: int
    schedule: str  # cron, UTC
    image: str  # PostgreSQL client image; pg_dump must be >= the server's major version
    database_url: PinnedSecret
    job_account_email: pulumi.Input[str]
    job_account_member: pulumi.Input[str]
    scheduler_account_email: pulumi.Input[str]
    scheduler_account_member: pulumi.Input[str]
    egress: JobEgress
    protect: bool
    ready: list[pulumi.Resource]


class Backups(PlatformComponent):
    bucket: gcp.storage.Bucket
    job: gcp.cloudrunv2.Job
    schedule: gcp.cloudscheduler.Job

    def __init__(
        self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:data:Backups", name, opts)
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=bucket_name(args.env),
            location=args.region,
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            labels=args.labels,
            retention_policy={"retention_period": str(args.retention_days * DAY_SEC)},
            lifecycle_rules=[
                {
                    "action": {"type": "Delete"},
                    "condition": {"age": args.retention_days + EXTRA_DAYS_BEFORE_DELETE},
                }
            ],
            force_destroy=False,
            opts=self.child_opts(protect=args.protect),
        )
        grants = [
            gcp.storage.BucketIAMMember(
                f"{name}-writer-{role.split('.')[-1].lower()}",
                bucket=self.bucket.name,
                role=role,
                member=args.job_account_member,
                opts=self.child_opts(),
            )
            for role in BACKUP_WRITER_ROLES
        ]
        job_name = f"piano-{args.env}-backup"
        self.job = gcp.cloudrunv2.Job(
            f"{name}-job",
            name=job_name,
            location=args.region,
            deletion_protection=False,
            labels=args.labels,
            template={
                "task_count": 1,
                "template": {
                    "service_account": args.job_account_email,
                    "max_retries": 1,
                    "timeout": JOB_TIMEOUT,
                    "execution_environment": "EXECUTION_ENVIRONMENT_GEN2",  # FUSE mounts
                    "vpc_access": args.egress.vpc_access(),
                    "volumes": [
                        {"name": "backups", "gcs": {"bucket": self.bucket.name, "read_only": False}}
                    ],
                    "containers": [
                        {
                            "image": args.image,
                            "commands": ["/bin/bash", "-c"],
                            "args": [backup_script(args.env)],
                            "envs": [args.database_url.env("DATABASE_URL")],
                            "volume_mounts": [{"name": "backups", "mount_path": MOUNT}],
                            # /tmp is in memory: it holds the whole dump before the copy.
                            "resources": {"limits": {"cpu": "1", "memory": "4Gi"}},
                        }
                    ],
                },
            },
            opts=self.child_opts(depends_on=[*grants, *args.ready]),
        )
        invoker = gcp.cloudrunv2.JobIamMember(
            f"{name}-scheduler-invoker",
            name=self.job.name,
            location=args.region,
            role="roles/run.invoker",
            member=args.scheduler_account_member,
            opts=self.child_opts(),
        )
        self.schedule = gcp.cloudscheduler.Job(
            f"{name}-schedule",
            name=f"piano-{args.env}-weekly-backup",
            region=args.region,
            description="Weekly pg_dump of the database into the backups bucket",
            schedule=args.schedule,
            time_zone="Etc/UTC",
            attempt_deadline="320s",
            retry_config={"retry_count": 1},
            http_target={
                "http_method": "POST",
                "uri": pulumi.Output.concat(
                    "https://run.googleapis.com/v2/projects/",
                    args.project,
                    "/locations/",
                    args.region,
                    "/jobs/",
                    self.job.name,
                    ":run",
                ),
                "oauth_token": {
                    "service_account_email": args.scheduler_account_email,
                    "scope": "https://www.googleapis.com/auth/cloud-platform",
                },
            },
            opts=self.child_opts(depends_on=[invoker]),
        )
        self.register_outputs({"bucket": self.bucket.name, "job": self.job.name})
