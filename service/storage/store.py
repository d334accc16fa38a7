"""The S3 client the API and workers share. Same code against R2, moto (tests) and `make up`.

boto3 is synchronous: async callers wrap these methods in `run_in_threadpool`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.core.config import Settings

log = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound"}


class StorageUnavailable(Exception):
    """The store did not answer (after botocore's retries) or answered with a server error."""


class ObjectChanged(Exception):
    """A conditional copy found the source changed (or gone) since it was checked."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str
    content_type: str | None


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING


def _s3_client(settings: Settings, max_attempts: int, timeout: float) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.storage.endpoint_url,
        aws_access_key_id=settings.storage.access_key_id,
        aws_secret_access_key=settings.storage.secret_access_key.get_secret_value(),
        region_name=settings.storage.region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},  # R2 and local servers both accept path style
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=timeout,
            read_timeout=timeout,
        ),
    )


class ObjectStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: Any = _s3_client(
            settings, settings.storage.max_attempts, settings.storage.timeout_seconds
        )
        self._probe: Any = None

    # --- presigned URLs (computed locally, no network) ---

    def presign_put(
        self, bucket: str, key: str, content_type: str, content_length: int, expires: int
    ) -> str:
        """Content-Type and Content-Length are signed headers: R2/S3 refuse a PUT of another type
        or another size (R2 has no presigned POST, so this is how the size is bound)."""
        return str(
            self.client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    "ContentType": content_type,
                    "ContentLength": content_length,
                },
                ExpiresIn=expires,
                HttpMethod="PUT",
            )
        )

    def presign_get(
        self, bucket: str, key: str, expires: int, *, download_name: str | None = None
    ) -> str:
        params: dict[str, str] = {"Bucket": bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = f'inline; filename="{download_name}"'
        return str(
            self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
        )

    # --- object operations ---

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            r = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise StorageUnavailable(str(exc)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(str(exc)) from exc
        return ObjectInfo(
            size=int(r["ContentLength"]),
            etag=str(r.get("ETag", "")).strip('"'),
            content_type=r.get("ContentType"),
        )

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        """Bytes [start, start+length); fewer if the object is shorter."""
        try:
            r = self.client.get_object(
                Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
            return bytes(r["Body"].read())
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) == "InvalidRange":
                return b""
            raise StorageUnavailable(str(exc)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def download_to(self, bucket: str, key: str, fileobj: IO[bytes]) -> None:
        try:
            self.client.download_fileobj(bucket, key, fileobj)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str) -> ObjectInfo:
        try:
            r = self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return ObjectInfo(
            size=len(data), etag=str(r.get("ETag", "")).strip('"'), content_type=content_type
        )

    def put_file(self, bucket: str, key: str, path: str, content_type: str) -> None:
        try:
            with open(path, "rb") as body:
                self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    # --- multipart uploads: the object exists only once completed, so an abandoned upload
    # leaves no object (stores expire incomplete uploads: R2 after 7 days) ---

    def create_multipart(self, bucket: str, key: str, content_type: str) -> str:
        try:
            r = self.client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return str(r["UploadId"])

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Parts are numbered from 1; all but the last must be at least 5 MiB. Returns the ETag."""
        try:
            r = self.client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return str(r["ETag"])

    def complete_multipart(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> None:
        parts = [{"PartNumber": i, "ETag": etag} for i, etag in enumerate(etags, start=1)]
        try:
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def multipart_uploads(self, bucket: str, prefix: str) -> list[str]:
        """Keys with an upload in progress (or abandoned) under `prefix`."""
        try:
            r = self.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return [u["Key"] for u in r.get("Uploads", [])]

    def copy(self, bucket: str, source: str, target: str, *, if_etag: str) -> ObjectInfo:
        """Server-side copy of exactly the version checked: ObjectChanged if the source's ETag
        is no longer `if_etag` (replaced after the check) or the source is gone.

        The condition goes to the store (CopySourceIfMatch), and the copy's ETag is compared
        too, for stores that ignore the condition (moto does): a mismatching copy is deleted.
        """
        try:
            self.client.copy_object(
                Bucket=bucket,
                Key=target,
                CopySource={"Bucket": bucket, "Key": source},
                CopySourceIfMatch=f'"{if_etag}"',
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "412") or _is_missing(exc):
                raise ObjectChanged(source) from exc
            raise StorageUnavailable(str(exc)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(str(exc)) from exc
        info = self.head(bucket, target)
        if info is None:
            raise StorageUnavailable(f"{target} missing right after the copy")
        if info.etag != if_etag:
            self.delete(bucket, target)
            raise ObjectChanged(source)
        return info

    def delete(self, bucket: str, key: str) -> None:
        """Idempotent: deleting a missing key succeeds, so a retried delete is safe."""
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            return [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def list_objects(self, bucket: str, prefix: str = "") -> list[StoredObject]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            return [
                StoredObject(obj["Key"], int(obj["Size"]), obj["LastModified"])
                for page in pages
                for obj in page.get("Contents", [])
            ]
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def ensure_buckets(self) -> None:
        """Local and test stores only: production buckets are made by infra (Pulumi)."""
        for bucket in (
            self.settings.storage.bucket_projects,
            self.settings.storage.bucket_knowledge,
        ):
            try:
                self.client.head_bucket(Bucket=bucket)
                continue
            except ClientError as exc:
                if not _is_missing(exc):
                    raise StorageUnavailable(str(exc)) from exc
            except BotoCoreError as exc:
                raise StorageUnavailable(str(exc)) from exc
            self.client.create_bucket(Bucket=bucket)
            log.info("created bucket", extra={"bucket": bucket})

    def probe(self, timeout: float) -> None:
        """Both buckets answer within `timeout` (one attempt, no retries): the readiness check.

        A client of its own, so a probe never waits behind (or retries like) the API's calls.
        """
        probe = self._probe_client(timeout)
        try:
            for bucket in (
                self.settings.storage.bucket_projects,
                self.settings.storage.bucket_knowledge,
            ):
                probe.head_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    def _probe_client(self, timeout: float) -> Any:
        if self._probe is None:
            self._probe = _s3_client(self.settings, 1, timeout)
        return self._probe
