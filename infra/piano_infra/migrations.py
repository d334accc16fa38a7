"""The release's database migration: once per release, before the instance group rolls.

A Cloud Run job installs the release exactly as the instances do (install.py) and runs
`python -m service.migrate`, which applies the SQL migrations shipped in the wheel under a
PostgreSQL advisory lock and fails when it finds none. `run_execution_token` makes Pulumi wait
until that execution has *succeeded*; the instance group depends on this job, so a failed
migration stops `pulumi up` before any instance changes, and the old release keeps serving.

The job is named after the version and replaced on any change (delete first: the name stays), so
every new job gets a fresh execution; re-running `pulumi up` on an unchanged release does not
migrate again (a rotated DATABASE_URL does re-run it, which applies nothing and proves the new
credentials). Rolling back to an earlier
version runs that version's migrate, which finds its migrations applied and changes nothing:
schema changes are expand/contract, so version N runs on N+1's schema, and a schema is only
ever taken back by a forward migration in a new release.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from piano_infra.cloud_run import JobEgress, PinnedSecret
from piano_infra.component import PlatformComponent
from piano_infra.install import install_commands
from piano_infra.release import Release, ReleaseRepository, dns_label

MIGRATE_COMMAND = "python -m service.migrate"
# The job's own single-use container: /tmp is private to it.
VENV = "/tmp/piano-venv"  # noqa: S108
LOCK_PATH = "/tmp/requirements.lock"  # noqa: S108
EXECUTION_TOKEN = "run"  # noqa: S105 - an execution name suffix
TIMEOUT = "1200s"
# Cloud Run: job name + execution token must stay under 63 characters.
_MAX_JOB_NAME = 63 - len(EXECUTION_TOKEN) - 2


def job_name(env: str, version: str) -> str:
    prefix = f"piano-{env}-migrate-"
    return prefix + dns_label(version, _MAX_JOB_NAME - len(prefix))


def job_script(release: Release, package_index: str, extra_index: str | None) -> str:
    return (
        "set -euo pipefail\n"
        f'printf "%s" "$PIANO_REQUIREMENTS_LOCK" > {LOCK_PATH}\n'
        + install_commands(
            python="python3",
            venv=VENV,
            version=release.version,
            package_index=package_index,
            lock_path=LOCK_PATH,
            extra_index=extra_index,
        )
        + f"exec {VENV}/bin/{MIGRATE_COMMAND}\n"
    )


@dataclass
class MigrationJobArgs:
    env: str
    region: str
    labels: dict[str, str]
    release: Release
    image: str
    release_repository: ReleaseRepository
    extra_index: str | None
    database_url: PinnedSecret
    service_account_email: pulumi.Input[str]
    service_account_member: pulumi.Input[str]
    egress: JobEgress
    # Grants the job needs before it runs (secret access, registry read, act-as).
    ready: list[pulumi.Resource]


class MigrationJob(PlatformComponent):
    """`job` completes (successfully) before `pulumi up` moves on to the instance group."""

    job: gcp.cloudrunv2.Job

    def __init__(
        self, name: str, args: MigrationJobArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:release:MigrationJob", name, opts)
        release = args.release
        reader = args.release_repository.reader(
            f"{name}-releases-reader", args.service_account_member, self.child_opts()
        )
        self.job = gcp.cloudrunv2.Job(
            f"{name}-job",
            name=job_name(args.env, release.version),
            location=args.region,
            deletion_protection=False,  # replaced with every release
            labels={
                **args.labels,
                "version": dns_label(release.version),
                "schema": dns_label(release.schema_head),
            },
            template={
                "task_count": 1,
                "template": {
                    "service_account": args.service_account_email,
                    "max_retries": 0,  # a failed migration is for a human, not a retry loop
                    "timeout": TIMEOUT,
                    "vpc_access": args.egress.vpc_access(),
                    "containers": [
                        {
                            "image": args.image,
                            "commands": ["/bin/bash", "-c"],
                            "args": [
                                job_script(
                                    release, args.release_repository.index_url, args.extra_index
                                )
                            ],
                            "envs": [
                                {"name": "PIANO_VERSION", "value": release.version},
                                {"name": "PIANO_SCHEMA_HEAD", "value": release.schema_head},
                                {
                                    "name": "PIANO_REQUIREMENTS_LOCK",
                                    "value": release.requirements_lock,
                                },
                                args.database_url.env("DATABASE_URL"),
                            ],
                            "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                        }
                    ],
                },
            },
            run_execution_token=EXECUTION_TOKEN,
            opts=self.child_opts(
                depends_on=[reader, *args.ready],
                replace_on_changes=["*"],
                delete_before_replace=True,
            ),
        )
        self.register_outputs({"job": self.job.name, "schema_head": release.schema_head})
