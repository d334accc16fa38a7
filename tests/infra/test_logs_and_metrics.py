"""Logs leave the VMs through the Ops Agent (and the runbooks' queries match what it produces);
metrics reach an in-VPC Prometheus that runs the repo's config and rules."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from infra_harness import INFRA, RecordingMocks, run_stack, stack_config
from piano_infra.files.load_secrets import file_name
from piano_infra.monitoring import (
    ALERTMANAGER_CONFIG,
    ALERTMANAGER_LISTEN,
    COMMITTED_CONFIG,
    RULE_FILES,
    alertmanager_config,
    prometheus_config,
    rule_files,
    startup_script,
)
from piano_infra.settings import ALERTING_SECRET_CONFIG_KEYS
from piano_infra.startup import JSON_LOGS

STACKS = ["dev", "staging", "prod"]
REPO = INFRA.parent
RUNBOOKS = REPO / "runbooks"
OPS_AGENT_CONFIG = "/etc/google-cloud-ops-agent/config.yaml"
# What service/core/logs.py writes (the formatter's fields, the access log's extras) and the
# `extra=` fields of the log calls the runbooks search (answers/engine.py, knowledge/pipeline.py).
SERVICE_LOG_FIELDS = {
    "ts", "level", "logger", "message", "request_id", "exc_info",
    "method", "path", "status", "duration_ms", "client",
    "provider", "reason", "error", "document_id", "code",
}  # fmt: skip


def _file(script: str, path: str, marker: str = "PIANO_EOF") -> str:
    start = script.index(f"cat > {path} <<'{marker}'\n")
    body = script.index("\n", start) + 1
    return script[body : script.index(f"{marker}\n", body)]


def _ops_agent(script: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(_file(script, OPS_AGENT_CONFIG, "OPS_AGENT_EOF"))
    return config


def _api_script(m: RecordingMocks) -> str:
    script: str = m.one("gcp:compute/instanceTemplate:InstanceTemplate").inputs[
        "metadataStartupScript"
    ]
    return script


# --- logs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_ops_agent_ships_the_service_json_logs(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        script = _api_script(m)
        assert (
            "curl -sSf -o /tmp/add-ops-agent-repo.sh "
            "https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh\n" in script
        )
        assert "bash /tmp/add-ops-agent-repo.sh --also-install --version='2.*.*'\n" in script
        assert script.index(OPS_AGENT_CONFIG) < script.index(
            "systemctl restart google-cloud-ops-agent"
        )
        logging = _ops_agent(script)["logging"]
        receivers = logging["receivers"]
        # a files receiver per JSON log, each the file its unit appends stdout and stderr to
        for log_id, path in JSON_LOGS.items():
            assert receivers[log_id] == {"type": "files", "include_paths": [path]}
            unit = "api" if log_id == "piano_api" else "worker"
            body = _file(script, f"/etc/systemd/system/piano-{unit}.service")
            assert f"StandardOutput=append:{path}\n" in body
            assert f"StandardError=append:{path}\n" in body
        assert receivers["journald"] == {"type": "systemd_journald"}
        pipeline = logging["service"]["pipelines"]["piano"]
        assert sorted(pipeline["receivers"]) == sorted(JSON_LOGS)
        parse, severity = (logging["processors"][p] for p in pipeline["processors"])
        assert parse == {"type": "parse_json"}  # the line's JSON becomes jsonPayload
        assert severity == {
            "type": "modify_fields",
            "fields": {"severity": {"copy_from": "jsonPayload.level"}},
        }
        assert 'LOG_FORMAT="json"' in _file(script, "/etc/piano/service.env")
        assert f"chown piano:piano {Path(next(iter(JSON_LOGS.values()))).parent}" in script
        assert "copytruncate" in _file(script, "/etc/logrotate.d/piano")

    return run_stack(stack).then(check)


def _logging_filters() -> list[tuple[str, str]]:
    found = []
    for path in sorted(RUNBOOKS.rglob("*.md")):
        text = path.read_text()
        for match in re.finditer(
            r"""gcloud logging read (?:'([^']*)'|"((?:[^"\\]|\\.)*)")""", text
        ):
            single, double = match.groups()
            found.append((path.name, single if single is not None else double.replace('\\"', '"')))
    return found


def test_runbook_log_queries_select_what_the_ops_agent_writes() -> None:
    """Every `gcloud logging read` in the runbooks names a log that exists: the agent's log ids
    on the instances (and only fields the service writes), or one of the program's jobs."""
    filters = _logging_filters()
    assert len(filters) >= 6, filters
    for name, query in filters:
        if 'resource.type="cloud_run_job"' in query:
            (job,) = re.findall(r'resource\.labels\.job_name="([^"]+)"', query)
            assert re.fullmatch(r"piano-(dev|staging|prod)-(backup|migrate-[a-z0-9-]+)", job), job
            continue
        assert 'resource.type="gce_instance"' in query, (name, query)
        log_ids = set(re.findall(r'log_id\("([^"]+)"\)', query))
        assert log_ids and log_ids <= {*JSON_LOGS, "journald"}, (name, query)
        if log_ids <= set(JSON_LOGS):
            fields = set(re.findall(r"jsonPayload\.([A-Za-z_]+)", query))
            assert fields <= SERVICE_LOG_FIELDS, (name, fields - SERVICE_LOG_FIELDS)


# --- metrics -------------------------------------------------------------------------------


def test_committed_prometheus_config_is_the_prod_rendering() -> None:
    cfg = stack_config("prod")
    project, zones = cfg["gcp:project"], yaml.safe_load(cfg["piano:zones"])
    assert COMMITTED_CONFIG.read_text() == prometheus_config("prod", project, zones), (
        "regenerate dashboards/prometheus/prometheus.yml from infra/piano_infra/monitoring.py"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_discovers_exactly_its_api_instances(stack: str, tmp_path: Path) -> None:
    cfg = stack_config(stack)
    zones = yaml.safe_load(cfg["piano:zones"])
    rendered = prometheus_config(stack, cfg["gcp:project"], zones)
    config = yaml.safe_load(rendered)
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "piano-api"  # what every rule and panel selects
    assert job["metrics_path"] == "/api/metrics"
    assert job["authorization"]["credentials_file"] == "/etc/prometheus/secrets/metrics-token"
    sd = job["gce_sd_configs"]
    assert [s["zone"] for s in sd] == zones
    assert {s["project"] for s in sd} == {cfg["gcp:project"]}
    assert {s["port"] for s in sd} == {8080}
    assert config["rule_files"] == [f"rules/{name}" for name in RULE_FILES]
    if shutil.which("promtool"):
        (tmp_path / "rules").mkdir()
        for name in RULE_FILES:
            shutil.copy(REPO / "dashboards" / "prometheus" / "rules" / name, tmp_path / "rules")
        (tmp_path / "prometheus.yml").write_text(rendered)
        result = subprocess.run(
            ["promtool", "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


def _labels_match(query: str, labels: dict[str, str]) -> bool:
    wanted = dict(re.findall(r'labels\.(\w+) = "([^"]+)"', query))
    assert wanted, query
    return all(labels.get(k) == v for k, v in wanted.items())


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_prometheus_vm_runs_the_repo_config_and_rules_and_reaches_the_instances(
    stack: str,
) -> pulumi.Output[None]:
    cfg = stack_config(stack)

    def check(m: RecordingMocks) -> None:
        vm = m.one("gcp:compute/instance:Instance").inputs
        script = vm["metadataStartupScript"]
        subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=30)
        config = _file(script, "/etc/prometheus/prometheus.yml")
        assert config == prometheus_config(
            stack, cfg["gcp:project"], yaml.safe_load(cfg["piano:zones"])
        )
        for name in RULE_FILES:
            repo_rules = (REPO / "dashboards" / "prometheus" / "rules" / name).read_text()
            assert _file(script, f"/etc/prometheus/rules/{name}") == repo_rules
        assert "promtool check config /etc/prometheus/prometheus.yml" in script
        assert "--web.listen-address=127.0.0.1:9090" in script  # reached through IAP only
        assert "load_secrets.py files /etc/prometheus/secrets" in script
        assert vm["networkInterfaces"][0].get("accessConfigs") in (None, [])
        assert (
            vm["serviceAccount"]["email"] == f"piano-prom-{stack}@fixture.iam.gserviceaccount.com"
        )
        (data,) = vm["attachedDisks"]
        assert data["deviceName"] == "prometheus-data"
        assert "/dev/disk/by-id/google-prometheus-data" in script
        assert m.options["prometheus-vm"].delete_before_replace is True
        # discovery finds the API instances, and never the Prometheus VM itself
        query = yaml.safe_load(config)["scrape_configs"][0]["gce_sd_configs"][0]["filter"]
        template = m.one("gcp:compute/instanceTemplate:InstanceTemplate").inputs
        mig = m.one("gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager").inputs
        assert _labels_match(query, template["labels"])
        assert _labels_match(query, mig["allInstancesConfig"]["labels"])
        assert not _labels_match(query, vm["labels"])
        # and the firewall lets exactly this VM's account reach the service port
        (scrape,) = [
            r
            for r in m.of_type("gcp:compute/firewall:Firewall")
            if "sourceServiceAccounts" in r.inputs
        ]
        assert scrape.inputs["sourceServiceAccounts"] == [vm["serviceAccount"]["email"]]

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_prometheus_vm_runs_the_repo_alertmanager_with_its_pinned_secrets(
    stack: str,
) -> pulumi.Output[None]:
    cfg = stack_config(stack)

    def check(m: RecordingMocks) -> None:
        vm = m.one("gcp:compute/instance:Instance").inputs
        script = vm["metadataStartupScript"]
        assert _file(script, "/etc/prometheus/alertmanager.yml") == ALERTMANAGER_CONFIG.read_text()
        assert (
            "'prometheus-alertmanager=0.25.0-*'" in script
        )  # the series make test-monitoring checks
        args = _file(script, "/etc/default/prometheus-alertmanager")
        assert f"--web.listen-address={ALERTMANAGER_LISTEN}" in args  # IAP tunnel only
        assert ALERTMANAGER_LISTEN.startswith("127.0.0.1:")
        assert "--cluster.listen-address= " in args  # one instance: no gossip port open
        assert "--storage.path=/var/lib/prometheus/alertmanager" in args  # on the data disk
        assert "amtool check-config /etc/prometheus/alertmanager.yml" in script
        assert "systemctl enable prometheus prometheus-alertmanager" in script
        # secrets are loaded (and owned by the daemons' user) before either daemon (re)starts
        loaded = script.index("load_secrets.py files /etc/prometheus/secrets")
        assert loaded < script.index("systemctl restart prometheus-alertmanager")
        # Prometheus sends its alerts to exactly that Alertmanager
        rendered = prometheus_config(stack, cfg["gcp:project"], yaml.safe_load(cfg["piano:zones"]))
        (target,) = yaml.safe_load(rendered)["alerting"]["alertmanagers"]
        assert target["static_configs"] == [{"targets": [ALERTMANAGER_LISTEN]}]
        # each receiver's *_file is where the loader writes the secret the VM pins
        am = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
        files = {
            value
            for receiver in am["receivers"]
            for configs in receiver.values()
            if isinstance(configs, list)
            for c in configs
            for key, value in c.items()
            if key.endswith("_file")
        }
        assert files == {
            f"/etc/prometheus/secrets/{file_name(v)}" for v in ALERTING_SECRET_CONFIG_KEYS
        }
        pinned = yaml.safe_load(vm["metadata"]["piano-secret-versions"])
        assert set(ALERTING_SECRET_CONFIG_KEYS) <= set(pinned)
        for env_var in ALERTING_SECRET_CONFIG_KEYS:
            assert pinned[env_var].split("/")[3] == f"{stack}-{file_name(env_var)}"

    return run_stack(stack).then(check)


def test_the_scripts_alertmanager_flags_and_config_start_the_real_binary(tmp_path: Path) -> None:
    """What the VM's systemd unit runs: the script's ARGS and config, on a free local port."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary and shutil.which("amtool"), "make test-infra installs prometheus-alertmanager"
    script = startup_script(
        prometheus_config("prod", "p", ["z"]), rule_files(), 15, alertmanager_config()
    )
    config = tmp_path / "alertmanager.yml"
    config.write_text(_file(script, "/etc/prometheus/alertmanager.yml"))
    check = subprocess.run(
        ["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # systemd splits $ARGS on whitespace; only the address and the data path move for the test
    line = _file(script, "/etc/default/prometheus-alertmanager").strip()
    assert line.startswith('ARGS="') and line.endswith('"')
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    local = {
        "--web.listen-address": f"127.0.0.1:{port}",
        "--storage.path": str(tmp_path / "data"),
    }
    args = [
        f"{flag}={local[flag]}" if flag in local else f"{flag}={value}"
        for flag, _, value in (arg.partition("=") for arg in line[6:-1].split())
    ]
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        status: dict[str, Any] = {}
        while not status:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "alertmanager did not start"
            try:
                url = f"http://127.0.0.1:{port}/api/v2/status"
                with urllib.request.urlopen(url, timeout=2) as response:
                    status = json.load(response)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert status["cluster"]["status"] == "disabled"  # one instance, no gossip port
        assert "routing_key_file: /etc/prometheus/secrets/" in status["config"]["original"]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
