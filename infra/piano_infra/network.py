"""VPC, subnet, Cloud NAT and the firewall that only lets Google's LB and health checkers in."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

# Google Front End and health-check source ranges: the only sources that ever reach the
# service port of an instance behind a global external Application Load Balancer.
GOOGLE_LB_RANGES: list[str] = ["130.211.0.0/22", "35.191.0.0/16"]
# Identity-Aware Proxy TCP forwarding, so operators can `gcloud compute ssh --tunnel-through-iap`.
IAP_TCP_RANGES: list[str] = ["35.235.240.0/20"]
SERVICE_PORT = 8080
INSTANCE_TAG = "piano-api"


@dataclass
class NetworkArgs:
    env: str
    region: str
    subnet_cidr: str
    allow_iap_ssh: bool = True


class Network(pulumi.ComponentResource):
    """Private network for the API instances: no external IPs, egress through Cloud NAT."""

    network: gcp.compute.Network
    subnet: gcp.compute.Subnetwork

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
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
        self.nat = gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"piano-{args.env}-nat",
            router=router.name,
            region=args.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
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
                target_tags=[INSTANCE_TAG],
                allows=[{"protocol": "tcp", "ports": ["22"]}],
                description="SSH through IAP only; instances have no external address",
                opts=child,
            )
        self.register_outputs({"network": self.network.self_link, "subnet": self.subnet.self_link})
