"""Renders the API instances' startup script: pinned release, logs, secrets, systemd units.

The script runs on every boot and is idempotent. It does not migrate the database: the
release's migration runs once, before the instance group rolls (migrations.py), and an
instance only takes traffic once `/api/ready` reports the schema at the release's head.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from importlib import resources

from piano_infra import ops_agent
from piano_infra.install import install_commands

API_UNIT = "piano-api.service"
WORKER_UNIT = "piano-worker.service"
SECRETS_UNIT = "piano-secrets.service"
UNITS = (SECRETS_UNIT, API_UNIT, WORKER_UNIT)
VENV = "/opt/piano/venv"
LOCK_PATH = "/opt/piano/requirements.lock"
WORKER_COMMAND = f"{VENV}/bin/python -m service.worker"
LOADER_COMMAND = "/usr/bin/python3 /opt/piano/bin/load_secrets.py"
# API workers and the ingestion worker write prometheus-client multiprocess files here, so the
# API's /api/metrics also exports the ingestion worker's counters. Emptied at every boot.
METRICS_DIR = "/run/piano-metrics"
# Log id (Cloud Logging) -> the file the unit appends its JSON lines to.
JSON_LOGS = {
    "piano_api": f"{ops_agent.LOG_DIR}/api.log",
    "piano_worker": f"{ops_agent.LOG_DIR}/worker.log",
}
# Linux sends the first TCP keepalive after 2 h idle by default, but Cloud NAT forgets an idle
# connection after 20 min (network.py): libpq's keepalives then use this, so pooled database
# connections stay mapped instead of failing on first use after a quiet spell.
TCP_KEEPALIVE_SYSCTL = (
    "net.ipv4.tcp_keepalive_time = 300\n"
    "net.ipv4.tcp_keepalive_intvl = 30\n"
    "net.ipv4.tcp_keepalive_probes = 5\n"
)
LOGROTATE = (
    f"{ops_agent.LOG_DIR}/*.log {{\n"
    "  daily\n  rotate 7\n  compress\n  delaycompress\n  missingok\n  notifempty\n"
    "  copytruncate\n}\n"
)


def api_command(workers: int) -> str:
    return (
        f"{VENV}/bin/uvicorn service.main:app --host 0.0.0.0 --port 8080 "
        f"--workers {workers} --proxy-headers"
    )


@dataclass(frozen=True)
class StartupSpec:
    version: str
    package_index: str  # Artifact Registry "simple" index that holds the service wheels
    requirements_lock: str  # the release's lock: constraints for its dependencies
    plain_env: dict[str, str]  # non-secret settings, written to service.env
    api_workers: int = 4
    # Extra index for dependencies not on PyPI (the CPU-only torch build).
    extra_index: str | None = None


def loader_source() -> str:
    return resources.files("piano_infra.files").joinpath("load_secrets.py").read_text()


def _env_file(values: dict[str, str]) -> str:
    return "".join(f"{k}={json.dumps(values[k])}\n" for k in sorted(values))


def _unit(description: str, body: str, after: str, requires: str) -> str:
    return (
        "[Unit]\n"
        f"Description={description}\n"
        f"After=network-online.target {after}\n"
        f"Requires={requires}\n"
        "Wants=network-online.target\n\n"
        f"{body}\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def _units(api_workers: int) -> dict[str, str]:
    env_files = "EnvironmentFile=/etc/piano/service.env\nEnvironmentFile=/etc/piano/secrets.env\n"

    def long_running(log: str) -> str:
        return (
            "[Service]\nType=simple\nUser=piano\nGroup=piano\nWorkingDirectory=/opt/piano\n"
            f"{env_files}"
            f"Environment=PROMETHEUS_MULTIPROC_DIR={METRICS_DIR}\n"
            f"StandardOutput=append:{log}\nStandardError=append:{log}\n"
            "Restart=on-failure\nRestartSec=5\nLimitNOFILE=65536\n"
        )

    return {
        SECRETS_UNIT: _unit(
            "Load piano secrets (the template's pinned versions) from Secret Manager",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            f"ExecStart={LOADER_COMMAND} env /etc/piano/secrets.env\n"
            f"ExecStartPost=/bin/sh -c 'rm -rf {METRICS_DIR} && install -d -o piano -g piano {METRICS_DIR}'\n"
            # IAM grants can take a minute to propagate: a 403 at first boot is retried.
            "Restart=on-failure\nRestartSec=15\n",
            "",
            "network-online.target",
        ),
        API_UNIT: _unit(
            "piano API (uvicorn)",
            f"{long_running(JSON_LOGS['piano_api'])}ExecStart={api_command(api_workers)}\n",
            SECRETS_UNIT,
            SECRETS_UNIT,
        ),
        WORKER_UNIT: _unit(
            "piano ingestion worker",
            f"{long_running(JSON_LOGS['piano_worker'])}ExecStart={WORKER_COMMAND}\n",
            SECRETS_UNIT,
            SECRETS_UNIT,
        ),
    }


def heredoc(path: str, content: str, mode: str) -> str:
    marker = "PIANO_EOF"
    assert marker not in content
    return f"cat > {path} <<'{marker}'\n{content}{marker}\nchmod {mode} {path}\n"


def render(spec: StartupSpec) -> str:
    """Bash for metadata_startup_script."""
    parts = [
        "#!/bin/bash\n",
        "# Generated by infra/piano_infra/startup.py. Installs a pinned release, ships its logs,\n",
        "# loads its pinned secrets, runs the API and the ingestion worker under systemd.\n",
        "set -euo pipefail\n",
        f"PIANO_VERSION={shlex.quote(spec.version)}\n\n",
        heredoc("/etc/sysctl.d/60-piano-keepalive.conf", TCP_KEEPALIVE_SYSCTL, "0644"),
        "sysctl --quiet --load /etc/sysctl.d/60-piano-keepalive.conf\n",
        "id piano >/dev/null 2>&1 || "
        "useradd --system --home /opt/piano --shell /usr/sbin/nologin piano\n",
        f"mkdir -p /opt/piano/bin /etc/piano {ops_agent.LOG_DIR}\n",
        f"chown piano:piano {ops_agent.LOG_DIR}\n",
        heredoc("/etc/logrotate.d/piano", LOGROTATE, "0644"),
        ops_agent.install_commands(JSON_LOGS),
        heredoc(LOCK_PATH, spec.requirements_lock, "0644"),
        'if [ "$(cat /opt/piano/VERSION 2>/dev/null || true)" != "$PIANO_VERSION" ]; then\n',
        "  apt-get update -q\n",
        "  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3.11 python3.11-venv\n",
        install_commands(
            python="python3.11",
            venv=f"{VENV}.new",
            version=spec.version,
            package_index=spec.package_index,
            lock_path=LOCK_PATH,
            extra_index=spec.extra_index,
        ),
        f"  rm -rf {VENV} && mv {VENV}.new {VENV}\n",
        '  echo "$PIANO_VERSION" > /opt/piano/VERSION\n',
        "fi\n\n",
        heredoc("/opt/piano/bin/load_secrets.py", loader_source(), "0755"),
        heredoc("/etc/piano/service.env", _env_file(spec.plain_env), "0644"),
    ]
    for unit, text in _units(spec.api_workers).items():
        parts.append(heredoc(f"/etc/systemd/system/{unit}", text, "0644"))
    parts += [
        "systemctl daemon-reload\n",
        f"systemctl enable {' '.join(UNITS)}\n",
        f"systemctl restart {SECRETS_UNIT}\n",
        f"systemctl restart {API_UNIT} {WORKER_UNIT}\n",
    ]
    return "".join(parts)
