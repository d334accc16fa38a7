"""Stack files hold config only, and bad settings fail before anything is created."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml
from infra_harness import FIXTURES, INFRA
from piano_infra.manifest import load_manifest
from piano_infra.settings import SECRET_CONFIG_KEYS, StackSettings, validate
from piano_policies.validators import SECRET_PATTERNS

STACKS = ["dev", "staging", "prod"]
SECRET_KEYS = {f"piano:{k}" for k in SECRET_CONFIG_KEYS.values()} | {"cloudflare:apiToken"}


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_hold_no_plaintext_secret(stack: str) -> None:
    text = (INFRA / f"Pulumi.{stack}.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    for key in SECRET_KEYS & set(config):
        assert isinstance(config[key], dict) and set(config[key]) == {"secure"}, key
    for label, pattern in SECRET_PATTERNS.items():
        assert not pattern.search(text), f"{stack}: {label}"
    assert set(config) <= {k for k in config if re.match(r"^(gcp|piano|cloudflare):", k)}


def test_every_stack_file_has_the_required_keys() -> None:
    required = {
        "gcp:project",
        "gcp:region",
        "piano:zones",
        "piano:cloudflareAccountId",
        "piano:cloudflareZoneId",
        "piano:apiHostname",
        "piano:serviceVersion",
        "piano:corsOrigins",
    }
    for stack in STACKS:
        config = yaml.safe_load((INFRA / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert required <= set(config), stack
        assert len(config["piano:zones"]) >= 2


def _settings(**changes: object) -> StackSettings:
    base = StackSettings(
        env="staging",
        gcp_project="p",
        region="europe-west1",
        zones=["europe-west1-b", "europe-west1-c"],
        cloudflare_account_id="a",
        cloudflare_zone_id="z",
        api_hostname="api.example.net",
        service_version="1.0.0",
        cors_origins=["https://app.example.net"],
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_replicas": 5, "max_replicas": 3}, "minReplicas"),
        ({"cpu_target": 1.5}, "cpuTarget"),
        ({"autohealing_initial_delay_sec": 300, "expected_boot_seconds": 420}, "exceed"),
        ({"cors_origins": []}, "corsOrigins"),
    ],
)
def test_invalid_settings_are_rejected(changes: dict[str, object], message: str) -> None:
    validate(_settings())
    with pytest.raises(ValueError, match=message):
        validate(_settings(**changes))


def test_manifest_main_module_resolves_inside_worker_dir() -> None:
    manifest = load_manifest()
    assert manifest.main_module_path.parent.parent == INFRA.parent / "worker"
    assert (FIXTURES / "index.js").is_file()
