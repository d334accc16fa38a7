"""Stack files hold config only, and bad settings fail before anything is created."""

from __future__ import annotations

import dataclasses
import json
import re

import pulumi
import pytest
import yaml
from infra_harness import FIXTURES, INFRA, RecordingMocks, run_stack, stack_config
from piano_infra.db_budget import ConnectionBudget
from piano_infra.manifest import load_manifest
from piano_infra.program import fixed_env
from piano_infra.service_env import check_database_url, validate_service_env
from piano_infra.settings import FIXED_ENV_KEYS, SECRET_CONFIG_KEYS, StackSettings, validate
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
        "piano:rateLimitNamespaceId",
        "piano:releaseBucket",
        "piano:supabasePoolSize",
    }
    for stack in STACKS:
        config = yaml.safe_load((INFRA / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert required <= set(config), stack
        assert len(config["piano:zones"]) >= 2


def test_each_stack_has_its_own_rate_limit_namespace_and_shares_one_release_store() -> None:
    configs = [stack_config(stack) for stack in STACKS]
    namespaces = [c["piano:rateLimitNamespaceId"] for c in configs]
    local = str(
        json.loads((INFRA.parent / "worker" / "bindings.json").read_text())["ratelimits"][0][
            "namespace_id"
        ]
    )
    assert len({*namespaces, local}) == len(STACKS) + 1
    # promotion: dev, staging and prod install the very same published artifacts
    assert len({c["piano:releaseBucket"] for c in configs}) == 1
    assert len({c["piano:releaseRepositoryProject"] for c in configs}) == 1


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
        release_bucket="piano-releases",
        supabase_pool_size=400,
    )
    return dataclasses.replace(base, **changes)


JWKS = "https://abcd.supabase.co/auth/v1/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_replicas": 5, "max_replicas": 3}, "minReplicas"),
        ({"cpu_target": 1.5}, "cpuTarget"),
        ({"autohealing_initial_delay_sec": 300, "expected_boot_seconds": 420}, "exceed"),
        ({"cors_origins": []}, "corsOrigins"),
        # authProvider=supabase without the JWKS URL crashes every instance at start
        ({"auth_provider": "supabase"}, "SUPABASE_JWKS_URL"),
        (
            {"auth_provider": "supabase", "service_env": {"SUPABASE_JWKS_URL": "http://x/jwks"}},
            "https",
        ),
        ({"auth_provider": "okta"}, "authProvider"),
        ({"embedding_provider": "local"}, "local-embeddings"),
        ({"llm_provider": "gpt"}, "llmProvider"),
        ({"rerank_provider": "cohere"}, "rerankProvider"),
        ({"rate_limit_namespace_id": "prod"}, "rateLimitNamespaceId"),
        ({"r2_location_hint": "mars"}, "r2LocationHint"),
        ({"release_bucket": ""}, "releaseBucket"),
        ({"db_statement_timeout_ms": 0}, "dbStatementTimeoutMs"),
        ({"backup_retention_days": 3}, "backupRetentionDays"),
        # (4+1) x (4+2) x (10+2) + 5 = 365 > 300
        ({"supabase_pool_size": 300}, r"= 365 exceeds piano:supabasePoolSize = 300"),
        ({"nat_min_ports_per_vm": 100}, "powers of two"),
        ({"nat_min_ports_per_vm": 4096, "nat_max_ports_per_vm": 1024}, "powers of two"),
        ({"nat_min_ports_per_vm": 16}, "powers of two"),
        # one instance holds 30 connections to the pooler: 32 ports is tight but fits, 16 not
        (
            {"db_pool_max_size": 10, "nat_min_ports_per_vm": 32, "supabase_pool_size": 1000},
            "below one instance's 60",
        ),
        ({"nat_ip_count": 1, "nat_max_ports_per_vm": 65536}, "natIpCount"),
    ],
)
def test_invalid_settings_are_rejected(changes: dict[str, object], message: str) -> None:
    validate(_settings())
    with pytest.raises(ValueError, match=message):
        validate(_settings(**changes))


def test_supabase_auth_is_accepted_with_its_jwks_url() -> None:
    validate(_settings(auth_provider="supabase", service_env={"SUPABASE_JWKS_URL": JWKS}))


def test_connection_budget_counts_every_pool_at_max_scale_mid_rollout() -> None:
    budget = ConnectionBudget(
        api_workers=4,
        db_pool_max_size=4,
        queue_pool_max_size=2,
        max_replicas=10,
        surge=3,
        limit=400,
    )
    assert (budget.per_process, budget.per_instance, budget.max_instances) == (6, 30, 13)
    assert budget.total == 13 * 30 + 5 == 395
    budget.check()
    with pytest.raises(ValueError, match="395 exceeds"):
        dataclasses.replace(budget, limit=394).check()


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_fits_its_connection_budget(stack: str) -> None:
    """The committed stack files pass the budget (the README's table shows the numbers)."""
    cfg = yaml.safe_load((INFRA / f"Pulumi.{stack}.yaml").read_text())["config"]
    budget = ConnectionBudget(
        api_workers=int(cfg.get("piano:apiWorkers", 4)),
        db_pool_max_size=int(cfg.get("piano:dbPoolMaxSize", 4)),
        queue_pool_max_size=int(cfg.get("piano:queuePoolMaxSize", 2)),
        max_replicas=int(cfg.get("piano:maxReplicas", 10)),
        surge=len(cfg["piano:zones"]),
        limit=int(cfg["piano:supabasePoolSize"]),
    )
    budget.check()
    assert budget.total > budget.limit * 0.8, "the limit is sized to the fleet, not arbitrary"


@pytest.mark.parametrize(
    ("region", "hint"),
    [
        ("europe-west1", "weur"),
        ("europe-southwest1", "weur"),
        ("europe-central2", "eeur"),
        ("us-central1", "enam"),
        ("us-west1", "wnam"),
        ("asia-northeast1", "apac"),
        ("australia-southeast1", "oc"),
    ],
)
def test_r2_location_hint_follows_the_gcp_region(region: str, hint: str) -> None:
    assert _settings(region=region).r2_location == hint
    assert _settings(region=region, r2_location_hint="apac").r2_location == "apac"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"supabase_jwks_url": "x"}, "UPPER_SNAKE_CASE"),
        ({"DB_POOL_MAX_SIZE": "50"}, "set by infra"),
        ({"ORIGIN_ENFORCE": "false"}, "set by infra"),
        ({"DATABASE_URL": "postgresql://..."}, "set by infra"),
        ({"STRIPE_SECRET": "x"}, "looks like a secret"),
        ({"SERVICE_TOKEN": "x"}, "looks like a secret"),
        ({"LLM_MODELS": ["a", "b"]}, "string, number or boolean"),
        ({"BANNER": "two\nlines"}, "single line"),
    ],
)
def test_service_env_refuses_what_does_not_belong_there(
    env: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_service_env(env, reserved=set(FIXED_ENV_KEYS) | set(SECRET_CONFIG_KEYS))


def test_service_env_values_become_strings() -> None:
    assert validate_service_env(
        {"RAG_MAX_IN_FLIGHT": 16, "EMBEDDING_WARMUP": False, "ANTHROPIC_MODEL": "claude"}, set()
    ) == {"RAG_MAX_IN_FLIGHT": "16", "EMBEDDING_WARMUP": "false", "ANTHROPIC_MODEL": "claude"}


def test_fixed_env_keys_are_exactly_what_infra_sets() -> None:
    fixed = set(fixed_env(_settings(), load_manifest()))
    assert fixed | {"PROMETHEUS_MULTIPROC_DIR"} == set(FIXED_ENV_KEYS)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("postgresql://postgres.abcd:pw@aws-0-eu-west-1.pooler.supabase.com:5432/postgres", True),
        ("postgresql://postgres.abcd:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres", False),
        ("postgresql://postgres:pw@db.abcd.supabase.co:5432/postgres", False),
        ("postgresql://piano:pw@10.0.0.5:5432/piano", True),
    ],
)
def test_database_url_must_use_the_session_pooler(url: str, ok: bool) -> None:
    if ok:
        check_database_url(url)
    else:
        with pytest.raises(ValueError, match="session pooler"):
            check_database_url(url)


@pulumi.runtime.test
def test_supabase_auth_sets_its_jwks_url_on_the_instances() -> pulumi.Output[None]:
    overrides: dict[str, str | None] = {
        "piano:authProvider": "supabase",
        "piano:serviceEnv": json.dumps({"SUPABASE_JWKS_URL": JWKS, "RAG_MAX_IN_FLIGHT": 16}),
    }

    def check(m: RecordingMocks) -> None:
        script = m.one("gcp:compute/instanceTemplate:InstanceTemplate").inputs[
            "metadataStartupScript"
        ]
        env = script.split("cat > /etc/piano/service.env <<'PIANO_EOF'\n", 1)[1].split(
            "PIANO_EOF", 1
        )[0]
        assert f'SUPABASE_JWKS_URL="{JWKS}"\n' in env
        assert 'AUTH_PROVIDER="supabase"\n' in env
        assert 'RAG_MAX_IN_FLIGHT="16"\n' in env

    return run_stack("staging", overrides=overrides).then(check)


@pulumi.runtime.test
def test_supabase_auth_without_jwks_fails_before_anything_is_created() -> pulumi.Output[None]:
    mocks = RecordingMocks()
    with pytest.raises(ValueError, match="SUPABASE_JWKS_URL"):
        run_stack("staging", mocks=mocks, overrides={"piano:authProvider": "supabase"})
    assert mocks.resources == []
    return pulumi.Output.from_input(None)


def test_transaction_pooler_url_fails_the_deployment() -> None:
    bad = "postgresql://postgres.abcd:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"

    @pulumi.runtime.test
    def deploy() -> pulumi.Output[object]:
        return run_stack("dev", overrides={"piano:databaseUrl": bad}).done

    with pytest.raises(ValueError, match="transaction pooler"):
        deploy()


def test_manifest_main_module_resolves_inside_worker_dir() -> None:
    manifest = load_manifest()
    assert manifest.main_module_path.parent.parent == INFRA.parent / "worker"
    assert (FIXTURES / "index.js").is_file()
