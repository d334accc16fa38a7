"""Entry point for `pulumi up`: read the stack's settings, build the environment, export."""

import pulumi
from piano_infra.manifest import load_manifest
from piano_infra.program import build
from piano_infra.settings import load

for key, value in build(load(), load_manifest()).items():
    pulumi.export(key, value)
