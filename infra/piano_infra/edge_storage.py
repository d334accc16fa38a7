"""R2 buckets and Workers KV namespaces named by the binding manifest, one set per stack."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from piano_infra.component import PlatformComponent
from piano_infra.manifest import BindingManifest

TEMP_UPLOAD_PREFIX = "temp-uploads/"
TEMP_UPLOAD_MAX_AGE_SEC = 24 * 60 * 60
PRESIGNED_UPLOAD_METHODS = ["GET", "PUT", "HEAD"]


@dataclass
class EdgeStorageArgs:
    env: str
    account_id: str
    manifest: BindingManifest
    cors_origins: list[str]
    protect: bool
    # R2 location hint next to the GCP region, so the origin's reads and writes stay close.
    # Only honoured when a bucket is first created.
    location: str


class EdgeStorage(PlatformComponent):
    """Data lives here, so prod resources carry protect=True (`pulumi destroy` cannot drop them)."""

    buckets: dict[str, cloudflare.R2Bucket]  # by binding name
    bucket_names: dict[str, str]  # binding -> bucket name
    kv: dict[str, cloudflare.WorkersKvNamespace]  # by binding name

    def __init__(
        self, name: str, args: EdgeStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:edge:EdgeStorage", name, opts)
        data_opts = self.child_opts(protect=args.protect)
        child = self.child_opts()
        self.buckets, self.bucket_names, self.kv = {}, {}, {}
        for spec in args.manifest.r2_buckets:
            bucket_name = args.manifest.env_bucket_name(spec, args.env)
            bucket = cloudflare.R2Bucket(
                f"{name}-{spec.bucket_name}",
                account_id=args.account_id,
                name=bucket_name,
                location=args.location,
                opts=data_opts,
            )
            cloudflare.R2BucketLifecycle(
                f"{name}-{spec.bucket_name}-lifecycle",
                account_id=args.account_id,
                bucket_name=bucket.name,
                rules=[
                    {
                        "id": "expire-temp-uploads",
                        "enabled": True,
                        "conditions": {"prefix": TEMP_UPLOAD_PREFIX},
                        "delete_objects_transition": {
                            "condition": {"type": "Age", "max_age": TEMP_UPLOAD_MAX_AGE_SEC}
                        },
                        "abort_multipart_uploads_transition": {
                            "condition": {"type": "Age", "max_age": TEMP_UPLOAD_MAX_AGE_SEC}
                        },
                    }
                ],
                opts=child,
            )
            cloudflare.R2BucketCors(
                f"{name}-{spec.bucket_name}-cors",
                account_id=args.account_id,
                bucket_name=bucket.name,
                rules=[
                    {
                        "id": "presigned-browser-uploads",
                        "allowed": {
                            "methods": PRESIGNED_UPLOAD_METHODS,
                            "origins": args.cors_origins,
                            "headers": [
                                "content-type",
                                "content-md5",
                                "x-amz-checksum-crc32",
                                "x-amz-sdk-checksum-algorithm",
                            ],
                        },
                        "expose_headers": ["ETag"],
                        "max_age_seconds": 3600,
                    }
                ],
                opts=child,
            )
            self.buckets[spec.binding] = bucket
            self.bucket_names[spec.binding] = bucket_name
        for kv_spec in args.manifest.kv_namespaces:
            self.kv[kv_spec.binding] = cloudflare.WorkersKvNamespace(
                f"{name}-{kv_spec.title}",
                account_id=args.account_id,
                title=args.manifest.env_kv_title(kv_spec, args.env),
                opts=data_opts,
            )
        self.register_outputs(
            {
                "bucket_names": self.bucket_names,
                "kv_ids": {b: ns.id for b, ns in self.kv.items()},
            }
        )
