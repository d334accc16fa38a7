"""Object storage: one boto3 client for R2 in production and a local S3 server in dev and tests."""

from service.storage.keys import (
    UPLOAD_PREFIX,
    project_key,
    recording_key,
    sanitize_filename,
    upload_key,
)
from service.storage.store import (
    ObjectChanged,
    ObjectInfo,
    ObjectStore,
    StorageUnavailable,
    StoredObject,
)

__all__ = [
    "UPLOAD_PREFIX",
    "ObjectChanged",
    "ObjectInfo",
    "ObjectStore",
    "StorageUnavailable",
    "StoredObject",
    "project_key",
    "recording_key",
    "sanitize_filename",
    "upload_key",
]
