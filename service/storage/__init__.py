"""Object storage: one boto3 client for R2 in production and a local S3 server in dev and tests."""

from service.storage.keys import project_key, recording_key, sanitize_filename
from service.storage.store import ObjectInfo, ObjectStore, StorageUnavailable

__all__ = [
    "ObjectInfo",
    "ObjectStore",
    "StorageUnavailable",
    "project_key",
    "recording_key",
    "sanitize_filename",
]
