"""VPC, subnet, Cloud NAT and the firewall that only lets Google's LB and health checkers in."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from piano_infra.component import PlatformComponent

# Google Front End and health-check source ranges: the only sources that ever reach the
# service port of an instance behind a global external Application Load Balancer.
GOOGLE_LB_RANGES: list[str] = ["130.211.0.0/22", "35.191.0.0/16"]
# Identity-Aware Proxy TCP forwarding, so operators can `gcloud compute ssh --tunnel-through-iap`.
IAP_TCP_RANGES: list[str] = ["35.235.240.0/20"]
SERVICE_PORT = 8080
INSTANCE_TAG = "piano-api"
PROMETHEUS_TAG = "piano-prometheus"
# Established TCP mappings live this long without traffic; instances send keepalives sooner
# (startup.py), so idle pooled database connections are not dropped silently.
NAT_TCP_ESTABLISHED_IDLE_SEC = 1200


@dataclass
class NatPorts:
    """Cloud NAT dynamic port allocation: every VM starts with `min` ports and grows to `max`."""

    min_per_vm: int
    max_per_vm: int
    ip_count: int


@dataclass
class ScrapeAccess:
    """Service account emails: the in-VPC Prometheus and the API instances it scrapes."""

    scraper_account: pulumi.Input[str]
    target_account: pulumi.Input[str]


@dataclass
class NetworkArgs:
    env: str
    region: str
    subnet_cidr: str
    labels: dict[str, str]
    nat: NatPorts
    scrape: ScrapeAccess
    allow_iap_ssh: bool = True


class Network(PlatformComponent):
    """Private network for the instances: no external IPs, egress through Cloud NAT."""

    network: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    nat: gcp.compute.RouterNat
    nat_addresses: list[gcp.compute.Address]
    nat_ips: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:network:Network", name, opts)
        child = self.child_opts()
        self.network = gcp.compute.Network(
            f"{name}-vpc",
            name=f"piano-{args.env}",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=f"piano-{args.env}-{args.region}",
            region=args.region,
            network=self.network.id,
            ip_cidr_range=args.subnet_cidr,
            private_ip_google_access=True,
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"piano-{args.env}-router",
            region=args.region,
            network=self.network.id,
            opts=child,
        )
        # Static egress addresses: Supabase's network restrictions (and any other allow-list)
        # can name them, and they survive NAT changes. Exported as the `nat_ips` output.
        self.nat_addresses = [
            gcp.compute.Address(
                f"{name}-nat-ip-{i}",
                name=f"piano-{args.env}-nat-{i}",
                region=args.region,
                address_type="EXTERNAL",
                network_tier="PREMIUM",
                labels=args.labels,
                description="Cloud NAT egress address (allow-listed by Supabase)",
                opts=child,
            )
            for i in range(args.nat.ip_count)
        ]
        self.nat_ips = pulumi.Output.all(*[a.address for a in self.nat_addresses]).apply(list)
        self.nat = gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"piano-{args.env}-nat",
            router=router.name,
            region=args.region,
            nat_ip_allocate_option="MANUAL_ONLY",
            nat_ips=[a.self_link for a in self.nat_addresses],
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            # Every pooled database connection of an instance goes to the same pooler address
            # and port, and each needs its own NAT port: the static 64 of the default would run
            # out. Dynamic allocation starts each VM at min and grows it to max as needed.
            enable_dynamic_port_allocation=True,
            enable_endpoint_independent_mapping=False,  # required with dynamic allocation
            min_ports_per_vm=args.nat.min_per_vm,
            max_ports_per_vm=args.nat.max_per_vm,
            tcp_established_idle_timeout_sec=NAT_TCP_ESTABLISHED_IDLE_SEC,
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
            opts=child,
        )
        self.lb_firewall = gcp.compute.Firewall(
            f"{name}-allow-google-lb",
            name=f"piano-{args.env}-allow-google-lb",
            network=self.network.id,
            direction="INGRESS",
            priority=1000,
            source_ranges=GOOGLE_LB_RANGES,
            target_tags=[INSTANCE_TAG],
            allows=[{"protocol": "tcp", "ports": [str(SERVICE_PORT)]}],
            description="Google front ends and health checkers to the service port only",
            opts=child,
        )
        self.iap_firewall: gcp.compute.Firewall | None = None
        if args.allow_iap_ssh:
            self.iap_firewall = gcp.compute.Firewall(
                f"{name}-allow-iap-ssh",
                name=f"piano-{args.env}-allow-iap-ssh",
                network=self.network.id,
                direction="INGRESS",
                priority=1000,
                source_ranges=IAP_TCP_RANGES,
                target_tags=[INSTANCE_TAG, PROMETHEUS_TAG],
                allows=[{"protocol": "tcp", "ports": ["22"]}],
                description="SSH through IAP only; instances have no external address",
                opts=child,
            )
        # Prometheus (by service account, not by a tag anyone with instance rights could set)
        # to the service port only.
        self.scrape_firewall = gcp.compute.Firewall(
            f"{name}-allow-prometheus-scrape",
            name=f"piano-{args.env}-allow-prometheus-scrape",
            network=self.network.id,
            direction="INGRESS",
            priority=1000,
            source_service_accounts=[args.scrape.scraper_account],
            target_service_accounts=[args.scrape.target_account],
            allows=[{"protocol": "tcp", "ports": [str(SERVICE_PORT)]}],
            description="In-VPC Prometheus scrapes /api/metrics on the service port",
            opts=child,
        )
        self.register_outputs(
            {
                "network": self.network.self_link,
                "subnet": self.subnet.self_link,
                "nat_ips": self.nat_ips,
            }
        )
