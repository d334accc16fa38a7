"""Puts infra/ and the policy pack on sys.path, as `pulumi` does when it runs them."""

import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"
for path in (INFRA, INFRA / "policypack"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
