"""Alertmanager config as code: amtool checks it, every alert rule routes by its severity, and
the real alertmanager binary delivers to a local PagerDuty Events API v2 fake and chat webhook.

Runs in `make test-monitoring`, which installs Debian's prometheus-alertmanager (amtool and the
server) like promtool.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.observability.promql import REPO_ROOT, alert_rules

CONFIG = REPO_ROOT / "dashboards" / "alertmanager" / "alertmanager.yml"
# The one place a severity's destination is stated for the tests: a new severity, or an alert
# without one, fails test_every_alert_rule_routes_to_its_severity_receiver.
RECEIVER_BY_SEVERITY = {"critical": "pager", "warning": "chat", "info": "dashboards-only"}
# Labels Prometheus adds to every alert it sends (external_labels) or the rules keep (job).
SENT_LABELS = {"environment": "prod", "job": "piano-api"}
WAIT_S = 30.0


def _tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"{names[0]} not found: `make test-monitoring` installs prometheus-alertmanager")


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("amtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


def rules_by_name() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in alert_rules()}


# --- static checks -------------------------------------------------------------------------


def test_amtool_check_config_is_clean() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def route_receivers(labels: dict[str, str], config_file: Path = CONFIG) -> list[str]:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={config_file}",
        *(f"{k}={v}" for k, v in sorted(labels.items())),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("alert", sorted(rules_by_name()))
def test_every_alert_rule_routes_to_its_severity_receiver(alert: str) -> None:
    rule = rules_by_name()[alert]
    severity = rule.get("labels", {}).get("severity")
    assert severity in RECEIVER_BY_SEVERITY, (
        f"{alert}: severity {severity!r} routes nowhere deliberate; use one of "
        f"{sorted(RECEIVER_BY_SEVERITY)}"
    )
    labels = {**rule["labels"], **SENT_LABELS, "alertname": alert}
    assert route_receivers(labels) == [RECEIVER_BY_SEVERITY[severity]]


def test_routing_table_catches_a_misrouted_severity(tmp_path: Path) -> None:
    """The routing check can fail: with the critical route gone, a critical alert goes to chat."""
    broken = config()
    broken["route"]["routes"] = [
        r for r in broken["route"]["routes"] if r["receiver"] != RECEIVER_BY_SEVERITY["critical"]
    ]
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(broken))
    labels = {"alertname": "ApiHighErrorRate", "severity": "critical", **SENT_LABELS}
    assert route_receivers(labels, path) != [RECEIVER_BY_SEVERITY["critical"]]
    # An unknown severity is not dropped: the root's catch-all still tells a human.
    assert route_receivers({"alertname": "New", "severity": "urgent"}) == ["chat"]


def test_inhibitions_name_real_alerts_and_keep_their_scope() -> None:
    names = set(rules_by_name())
    inhibit = config()["inhibit_rules"]
    symptoms = [
        rule for rule in inhibit if any(m.startswith("alertname=") for m in rule["source_matchers"])
    ]
    assert symptoms, "the database-down alert inhibits its symptoms"
    for rule in symptoms:
        source = rule["source_matchers"][0].split('"')[1]
        assert source in names
        (target,) = rule["target_matchers"]
        targets = target.split('"')[1].split("|")
        assert set(targets) <= names, set(targets) - names
        assert source not in targets
        # Only the same stack's same job: a staging outage never hides a prod page.
        assert {"environment", "job"} <= set(rule["equal"])
    same_alert = [r for r in inhibit if r["source_matchers"] == ['severity="critical"']]
    assert same_alert and {"alertname", "environment"} <= set(same_alert[0]["equal"])


def test_every_alert_carries_what_the_notifications_show() -> None:
    for name, rule in rules_by_name().items():
        annotations = rule["annotations"]
        assert annotations.get("runbook_url", "").endswith(f"runbooks/{name}.md"), name
        assert annotations.get("summary"), name


def test_config_holds_no_secret_only_file_references() -> None:
    text = CONFIG.read_text()
    for inline in ("routing_key:", "service_key:", "api_url:", "url:", "password:"):
        assert f" {inline}" not in text, inline
    receivers = {r["name"]: r for r in config()["receivers"]}
    pager = receivers["pager"]["pagerduty_configs"][0]
    chat = receivers["chat"]["slack_configs"][0]
    assert pager["routing_key_file"].startswith("/etc/prometheus/secrets/")
    assert chat["api_url_file"].startswith("/etc/prometheus/secrets/")


# --- end to end: the real alertmanager, local receivers ------------------------------------

# PagerDuty Events API v2, "Send an Alert Event" (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/,
# source: github.com/PagerDuty/developer-docs docs/events-API-v2/02-Trigger-Events.md): POST
# /v2/enqueue with routing_key (the 32-character integration key), event_action
# (trigger|acknowledge|resolve), dedup_key (<= 255 characters; correlates a resolve with its
# trigger), and for a trigger payload.summary (required, <= 1024), payload.source (required),
# payload.severity (required: critical|error|warning|info), optional custom_details, links
# [{href (required), text}], client, client_url. Accepted events get 202 with
# {"status": "success", "message": "Event processed", "dedup_key": ...}; invalid ones 400.
PD_ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, like a real integration key
PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}


def pagerduty_problems(event: dict[str, Any]) -> list[str]:
    problems = []
    if event.get("routing_key") != PD_ROUTING_KEY:
        problems.append("routing_key is not the integration key")
    if event.get("event_action") not in PD_ACTIONS:
        problems.append(f"event_action {event.get('event_action')!r}")
    dedup = event.get("dedup_key")
    if not isinstance(dedup, str) or not 0 < len(dedup) <= 255:
        problems.append("dedup_key missing or longer than 255")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        summary = payload.get("summary")
        if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
            problems.append("payload.summary missing or longer than 1024")
        if not payload.get("source"):
            problems.append("payload.source missing")
        if payload.get("severity") not in PD_SEVERITIES:
            problems.append(f"payload.severity {payload.get('severity')!r}")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            problems.append("payload.custom_details is not an object")
        for link in event.get("links", []):
            if not link.get("href"):
                problems.append("a link without href")
    return problems


@dataclass
class Inbox:
    """What one fake receiver got: JSON bodies, and any that broke its contract."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, what: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if match(m)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no {what} within {WAIT_S}s; got {self.messages}")

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)


def serve(inbox: Inbox, path: str, reply: Callable[[dict[str, Any]], tuple[int, bytes]]) -> Any:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                message = json.loads(body)
            except ValueError:
                message = {}
            problems = [] if self.path == path else [f"POST {self.path}"]
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                problems.append(f"Content-Type {self.headers.get('Content-Type')}")
            status, answer = reply(message)
            with inbox.lock:
                inbox.messages.append(message)
                inbox.problems.extend(problems)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def pagerduty_reply(inbox: Inbox) -> Callable[[dict[str, Any]], tuple[int, bytes]]:
    def reply(event: dict[str, Any]) -> tuple[int, bytes]:
        problems = pagerduty_problems(event)
        if problems:
            with inbox.lock:
                inbox.problems.extend(problems)
            body = {"status": "invalid event", "message": "Event object is invalid"}
            return 400, json.dumps({**body, "errors": problems}).encode()
        body = {"status": "success", "message": "Event processed"}
        return 202, json.dumps({**body, "dedup_key": event["dedup_key"]}).encode()

    return reply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Deployment:
    url: str
    pager: Inbox
    chat: Inbox


def local_copy(pd_url: str, chat_url: str, secrets: Path) -> str:
    """The committed config with its endpoints, secret files and timers pointed at the test.

    Only what must differ here changes: the PagerDuty URL, the two secret files (written like
    the VM's loader writes them) and the waits (seconds instead of minutes).
    """
    cfg = config()
    cfg["global"]["pagerduty_url"] = pd_url
    (secrets / "pagerduty-routing-key").write_text(PD_ROUTING_KEY)
    (secrets / "alert-chat-webhook-url").write_text(chat_url)
    for receiver in cfg["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            pd["routing_key_file"] = str(secrets / Path(pd["routing_key_file"]).name)
        for chat in receiver.get("slack_configs", []):
            chat["api_url_file"] = str(secrets / Path(chat["api_url_file"]).name)
    cfg["route"].update(group_wait="1s", group_interval="2s")
    for route in cfg["route"]["routes"]:
        route.pop("group_wait", None)
        route.pop("group_interval", None)
    return yaml.safe_dump(cfg, sort_keys=False)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Deployment]:
    pager, chat = Inbox(), Inbox()
    pd_server = serve(pager, "/v2/enqueue", pagerduty_reply(pager))
    chat_server = serve(chat, "/services/T000/B000/chat", lambda _: (200, b"ok"))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        local_copy(
            f"http://127.0.0.1:{pd_server.server_port}/v2/enqueue",
            f"http://127.0.0.1:{chat_server.server_port}/services/T000/B000/chat",
            secrets,
        )
    )
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    proc = subprocess.Popen(
        [
            _tool("prometheus-alertmanager", "alertmanager"),
            f"--config.file={path}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            assert proc.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "alertmanager did not become ready"
            time.sleep(0.2)
        yield Deployment(url, pager, chat)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        pd_server.shutdown()
        chat_server.shutdown()


def alert(
    name: str,
    severity: str | None = None,
    *,
    resolved: bool = False,
    summary: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One alert as Prometheus posts it: rule labels + external labels, rendered annotations."""
    rule = rules_by_name()[name]
    now = datetime.now(UTC).isoformat()
    body: dict[str, Any] = {
        "labels": {
            **rule["labels"],
            **SENT_LABELS,
            "alertname": name,
            **({"severity": severity} if severity else {}),
            **labels,
        },
        "annotations": {
            "summary": summary or rule["annotations"]["summary"],
            "description": f"{name} is firing (test)",
            "runbook_url": rule["annotations"]["runbook_url"],
            "dashboard": rule["annotations"]["dashboard"],
        },
        "generatorURL": f"http://prometheus.test/graph?g0.expr={name}",
        "startsAt": now,
    }
    if resolved:
        body["endsAt"] = now
    return body


def post(deployment: Deployment, *alerts: dict[str, Any]) -> None:
    response = httpx.post(f"{deployment.url}/api/v2/alerts", json=list(alerts), timeout=10)
    assert response.status_code == 200, response.text


def about(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: name in json.dumps(message)


def pager_event(name: str, action: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("event_action") == action and name in e["payload"]["summary"]


def test_alerts_reach_the_pager_and_chat_resolve_and_inhibit(alertmanager: Deployment) -> None:
    am, rules = alertmanager, rules_by_name()

    # A critical alert pages with its summary and runbook; a warning goes to chat.
    post(am, alert("ApiHighErrorRate"), alert("ApiHighLatency"))
    page = am.pager.wait_for("page", pager_event("ApiHighErrorRate", "trigger"))
    runbook = rules["ApiHighErrorRate"]["annotations"]["runbook_url"]
    assert rules["ApiHighErrorRate"]["annotations"]["summary"] in page["payload"]["summary"]
    assert "[prod]" in page["payload"]["summary"]
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["source"] == "piano-prod"
    assert {"href": runbook, "text": "Runbook"} in page["links"]
    assert page["payload"]["custom_details"]["runbook_url"] == runbook
    message = am.chat.wait_for("chat message", about("ApiHighLatency"))
    (attachment,) = message["attachments"]
    latency = rules["ApiHighLatency"]["annotations"]
    assert attachment["title"].startswith("[FIRING")
    assert attachment["title_link"] == latency["runbook_url"]
    assert latency["summary"] in attachment["text"]
    assert latency["runbook_url"] in attachment["text"]
    assert not any(about("ApiHighLatency")(e) for e in am.pager.snapshot())
    assert not any(about("ApiHighErrorRate")(m) for m in am.chat.snapshot())

    # Resolved alerts resolve the incident (same dedup_key) and say so in chat.
    post(am, alert("ApiHighErrorRate", resolved=True), alert("ApiHighLatency", resolved=True))
    resolve = am.pager.wait_for(
        "resolve",
        lambda e: e.get("event_action") == "resolve" and e["dedup_key"] == page["dedup_key"],
    )
    assert resolve["routing_key"] == PD_ROUTING_KEY
    am.chat.wait_for(
        "resolved chat message",
        lambda m: (
            m["attachments"][0]["title"].startswith("[RESOLVED")
            and "ApiHighLatency" in m["attachments"][0]["title"]
        ),
    )

    # Two instances down: one incident for the alert, its summary not blanked by the difference.
    post(
        am,
        *(
            alert("InstanceDown", instance=i, summary=f"API instance {i} is down")
            for i in ("api-a", "api-b")
        ),
    )
    down = am.pager.wait_for("instances page", pager_event("InstanceDown", "trigger"))
    assert (
        down["payload"]["summary"] == "[prod] InstanceDown: API instance api-a is down (2 alerts)"
    )
    assert down["payload"]["custom_details"]["runbook_url"].endswith("runbooks/InstanceDown.md")

    # The database down hides its symptoms; a critical hides the same alert's warning.
    post(
        am,
        alert("DatabaseUnreachable"),
        alert("IngestionQueueStuck"),
        alert("CacheHitRateCollapsed", "critical"),
        alert("CacheHitRateCollapsed", "warning"),
    )
    am.pager.wait_for("database page", pager_event("DatabaseUnreachable", "trigger"))
    am.pager.wait_for("critical cache page", pager_event("CacheHitRateCollapsed", "trigger"))
    time.sleep(5)  # two more group intervals: anything not inhibited would have arrived by now
    chat = am.chat.snapshot()
    assert not any(about("IngestionQueueStuck")(m) for m in chat), chat
    assert not any(about("CacheHitRateCollapsed")(m) for m in chat), chat
    assert not any(about("IngestionQueueStuck")(e) for e in am.pager.snapshot())

    assert am.pager.problems == [] and am.chat.problems == []
