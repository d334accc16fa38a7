"""Development and operations tooling beside the runtime package; never shipped in the wheel.

`devstack` runs the local stack (`make up`, `make migrate`, `make seed`, ...), `evals` the
retrieval evaluation (`make eval`), `drills` the runbook drills (`make drills`); `local_s3` is the
S3 server of the local stack and `seed` the demo books it loads. Everything here may import
`service`; nothing in `service` imports this package.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
