"""Rate limits shared by every API instance through PostgreSQL.

- `limiter`: named per-user buckets (`RateLimits.charge`), the `limits` library's sliding window
  counter over `storage.PostgresStorage`.
- `login`: per-IP and per-account sign-in limits with exponential backoff (`LoginGuard`).
- `upkeep`: the background sweep of expired counters.
"""

from service.core.exceptions import RateLimited
from service.core.quota import Quota
from service.ratelimit.limiter import Bucket, RateLimits
from service.ratelimit.login import LoginGuard

__all__ = ["Bucket", "LoginGuard", "Quota", "RateLimited", "RateLimits"]
