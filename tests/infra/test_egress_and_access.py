"""Cloud NAT (static addresses, dynamic ports), the APIs the program enables itself, and who may
do what: each service account's project roles and the deployers' act-as grants."""

from __future__ import annotations

import json

import pulumi
import pytest
from infra_harness import RecordingMocks, run_stack, stack_config
from piano_infra.apis import REQUIRED_APIS

STACKS = ["dev", "staging", "prod"]
SA = "@fixture.iam.gserviceaccount.com"


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_nat_uses_static_addresses_and_dynamic_ports(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        addresses = m.of_type("gcp:compute/address:Address")
        assert [a.inputs["name"] for a in addresses] == [
            f"piano-{stack}-nat-0",
            f"piano-{stack}-nat-1",
        ]
        assert {a.inputs["addressType"] for a in addresses} == {"EXTERNAL"}
        nat = m.one("gcp:compute/routerNat:RouterNat").inputs
        assert nat["natIpAllocateOption"] == "MANUAL_ONLY"
        assert nat["natIps"] == [
            f"projects/fixture/regions/r/addresses/piano-{stack}-nat-{i}" for i in range(2)
        ]
        assert nat["enableDynamicPortAllocation"] is True
        assert nat["enableEndpointIndependentMapping"] is False
        assert (nat["minPortsPerVm"], nat["maxPortsPerVm"]) == (128, 4096)
        # One instance's pooled connections all go to one pooler address: each needs a port.
        cfg = stack_config(stack)
        per_instance = (int(cfg.get("piano:apiWorkers", 4)) + 1) * (
            int(cfg.get("piano:dbPoolMaxSize", 4)) + 2
        )
        assert per_instance <= nat["minPortsPerVm"]
        # NAT forgets idle TCP after this; instances send keepalives sooner (startup script).
        assert nat["tcpEstablishedIdleTimeoutSec"] == 1200

    return run_stack(stack).then(check)


@pulumi.runtime.test
def test_nat_addresses_are_a_stack_output_for_supabase_allow_lists() -> pulumi.Output[None]:
    run = run_stack("prod", overrides={"piano:natIpCount": "3"})

    def check(ips: list[str]) -> None:
        assert ips == ["198.51.100.10", "198.51.100.11", "198.51.100.12"]

    return pulumi.Output.from_input(run.outputs["nat_ips"]).apply(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_the_program_enables_its_apis_before_using_them(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        services = m.of_type("gcp:projects/service:Service")
        enabled = {s.inputs["service"] for s in services}
        assert enabled == set(REQUIRED_APIS)
        assert {
            "iap.googleapis.com",
            "oslogin.googleapis.com",
            "cloudresourcemanager.googleapis.com",
        } <= enabled
        assert {s.inputs["project"] for s in services} == {f"piano-{stack}-000000"}
        assert all(s.inputs["disableOnDestroy"] is False for s in services)
        api_resources = {s.name for s in services}
        # every GCP resource outside the APIs component waits for them
        for r in m.resources:
            if r.type.startswith("gcp:") and r.type != "gcp:projects/service:Service":
                assert api_resources <= m.depends_on[r.name], r.name

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_service_accounts_hold_only_their_project_roles(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        roles: dict[str, set[str]] = {}
        for grant in m.of_type("gcp:projects/iAMMember:IAMMember"):
            roles.setdefault(grant.inputs["member"], set()).add(grant.inputs["role"])
        assert roles == {
            f"serviceAccount:piano-api-{stack}{SA}": {
                "roles/logging.logWriter",
                "roles/monitoring.metricWriter",
            },
            f"serviceAccount:piano-prom-{stack}{SA}": {
                "roles/compute.viewer",
                "roles/logging.logWriter",
                "roles/monitoring.metricWriter",
            },
        }
        accounts = {a.inputs["accountId"] for a in m.of_type("gcp:serviceaccount/account:Account")}
        assert accounts == {
            f"piano-{a}-{stack}" for a in ("api", "prom", "migrate", "backup", "sched")
        }

    return run_stack(stack).then(check)


@pulumi.runtime.test
def test_deployers_may_act_as_each_runtime_account_and_nothing_more() -> pulumi.Output[None]:
    ci = "serviceAccount:ci@piano-ci.iam.gserviceaccount.com"
    overrides: dict[str, str | None] = {
        "piano:deployers": json.dumps([ci, "group:ops@example.com"])
    }

    def check(m: RecordingMocks) -> None:
        grants = m.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        assert {g.inputs["role"] for g in grants} == {"roles/iam.serviceAccountUser"}
        accounts = m.of_type("gcp:serviceaccount/account:Account")
        assert len(grants) == 2 * len(accounts)
        assert {(g.inputs["serviceAccountId"], g.inputs["member"]) for g in grants} == {
            (f"projects/fixture/serviceAccounts/{a.inputs['accountId']}{SA}", member)
            for a in accounts
            for member in (ci, "group:ops@example.com")
        }
        # what runs as an account waits for the deployer's right to attach it
        assert "identity-act-as-0" in m.depends_on["compute-mig"]
        assert "migrate-identity-act-as-0" in m.depends_on["migration-job"]

    return run_stack("staging", overrides=overrides).then(check)
