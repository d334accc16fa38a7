"""Google Cloud Ops Agent configuration: the service's JSON logs into Cloud Logging.

The systemd units append the service's stdout (one JSON object per line, service/core/logs.py)
to files under /var/log/piano; the agent tails them, parses the JSON into `jsonPayload` and
copies `level` into the entry's severity. Entries land on the instance (`resource.type=
"gce_instance"`) under the receiver's name as log id, e.g.

    gcloud logging read 'resource.type="gce_instance" AND log_id("piano_api")
      AND jsonPayload.level="ERROR"'

Everything else on the VM (startup script, systemd) comes through the journald receiver as
log id `journald`. Host metrics keep the agent's default pipeline.
"""

from __future__ import annotations

import yaml

LOG_DIR = "/var/log/piano"
CONFIG_PATH = "/etc/google-cloud-ops-agent/config.yaml"
# The agent's install script, and the major version it is held to.
REPO_SCRIPT_URL = "https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh"
AGENT_VERSION = "2.*.*"
JSON_PARSER = "piano_json"
SEVERITY = "piano_severity"
JOURNALD = "journald"


def config(json_logs: dict[str, str]) -> dict[str, object]:
    """`json_logs`: log id -> file the service writes JSON lines to."""
    receivers: dict[str, object] = {
        log_id: {"type": "files", "include_paths": [path]} for log_id, path in json_logs.items()
    }
    receivers[JOURNALD] = {"type": "systemd_journald"}
    pipelines: dict[str, object] = {
        JOURNALD: {"receivers": [JOURNALD]},
    }
    if json_logs:
        pipelines["piano"] = {
            "receivers": sorted(json_logs),
            "processors": [JSON_PARSER, SEVERITY],
        }
    return {
        "logging": {
            "receivers": receivers,
            "processors": {
                JSON_PARSER: {"type": "parse_json"},
                # Python's level names are Cloud Logging severities (DEBUG ... CRITICAL).
                SEVERITY: {
                    "type": "modify_fields",
                    "fields": {"severity": {"copy_from": "jsonPayload.level"}},
                },
            },
            "service": {"pipelines": pipelines},
        }
    }


def render(json_logs: dict[str, str]) -> str:
    return yaml.safe_dump(config(json_logs), sort_keys=False)


def install_commands(json_logs: dict[str, str]) -> str:
    """Bash: install the agent once, (re)write its config, restart it."""
    return (
        "if ! dpkg -s google-cloud-ops-agent >/dev/null 2>&1; then\n"
        f"  curl -sSf -o /tmp/add-ops-agent-repo.sh {REPO_SCRIPT_URL}\n"
        f"  bash /tmp/add-ops-agent-repo.sh --also-install --version='{AGENT_VERSION}'\n"
        "fi\n"
        f"mkdir -p {LOG_DIR} /etc/google-cloud-ops-agent\n"
        f"cat > {CONFIG_PATH} <<'OPS_AGENT_EOF'\n{render(json_logs)}OPS_AGENT_EOF\n"
        "systemctl restart google-cloud-ops-agent\n"
    )
