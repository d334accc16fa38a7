"""Global external Application LB: address, certificate, HTTPS proxy, URL map, backend."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from piano_infra.component import PlatformComponent

BACKEND_TIMEOUT_SEC = 60  # SSE answers stream for up to a minute


@dataclass
class LoadBalancerArgs:
    env: str
    labels: dict[str, str]
    api_hostname: str
    instance_group: pulumi.Input[str]
    health_check: pulumi.Input[str]
    security_policy: pulumi.Input[str]


class LoadBalancer(PlatformComponent):
    """HTTPS on a global address, certificate from Certificate Manager via DNS authorisation.

    DNS authorisation needs only a CNAME under _acme-challenge, so the certificate is issued
    and renewed while the API hostname stays proxied through Cloudflare (see infra/README.md).
    """

    address: gcp.compute.GlobalAddress
    backend: gcp.compute.BackendService
    dns_authorization: gcp.certificatemanager.DnsAuthorization

    def __init__(
        self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:loadbalancer:LoadBalancer", name, opts)
        child = self.child_opts()
        prefix = f"piano-{args.env}"
        self.address = gcp.compute.GlobalAddress(
            f"{name}-ip", name=f"{prefix}-lb", labels=args.labels, opts=child
        )
        self.backend = gcp.compute.BackendService(
            f"{name}-backend",
            name=f"{prefix}-api",
            protocol="HTTP",
            port_name="http",
            load_balancing_scheme="EXTERNAL_MANAGED",
            timeout_sec=BACKEND_TIMEOUT_SEC,
            connection_draining_timeout_sec=BACKEND_TIMEOUT_SEC,
            health_checks=args.health_check,
            security_policy=args.security_policy,
            backends=[
                {
                    "group": args.instance_group,
                    "balancing_mode": "UTILIZATION",
                    "max_utilization": 0.8,
                    "capacity_scaler": 1.0,
                }
            ],
            log_config={"enable": True, "sample_rate": 1.0},
            opts=child,
        )
        url_map = gcp.compute.URLMap(
            f"{name}-urlmap", name=f"{prefix}-api", default_service=self.backend.id, opts=child
        )
        self.dns_authorization = gcp.certificatemanager.DnsAuthorization(
            f"{name}-dns-authz",
            name=f"{prefix}-api-authz",
            domain=args.api_hostname,
            labels=args.labels,
            opts=child,
        )
        certificate = gcp.certificatemanager.Certificate(
            f"{name}-cert",
            name=f"{prefix}-api",
            labels=args.labels,
            managed={
                "domains": [args.api_hostname],
                "dns_authorizations": [self.dns_authorization.id],
            },
            opts=child,
        )
        cert_map = gcp.certificatemanager.CertificateMap(
            f"{name}-certmap", name=f"{prefix}-api", labels=args.labels, opts=child
        )
        gcp.certificatemanager.CertificateMapEntry(
            f"{name}-certmap-entry",
            name=f"{prefix}-api",
            map=cert_map.name,
            hostname=args.api_hostname,
            certificates=[certificate.id],
            labels=args.labels,
            opts=child,
        )
        proxy = gcp.compute.TargetHttpsProxy(
            f"{name}-https-proxy",
            name=f"{prefix}-api",
            url_map=url_map.id,
            certificate_map=pulumi.Output.concat(
                "//certificatemanager.googleapis.com/", cert_map.id
            ),
            opts=child,
        )
        self.forwarding_rule = gcp.compute.GlobalForwardingRule(
            f"{name}-https",
            name=f"{prefix}-https",
            target=proxy.id,
            ip_address=self.address.address,
            port_range="443",
            load_balancing_scheme="EXTERNAL_MANAGED",
            labels=args.labels,
            opts=child,
        )
        self.acme_record = self.dns_authorization.dns_resource_records.apply(
            lambda records: records[0] if records else None
        )
        self.register_outputs({"ip_address": self.address.address})
