"""Every access decision, in one package: who may read or change what.

- `scope`: what one caller may read, as a row check (`allows`), a SQL filter (`sql`) and a cache
  fingerprint, for knowledge documents and for users' own data. Built once per request.
- `knowledge`: loading a knowledge document the caller may see or change.
- `projects`: project sharing levels, a separate rule that counts explicit shares only.
- `links`: who may create, see and remove teacher-student links.
"""

from service.access.scope import AccessScope, scope_for

__all__ = ["AccessScope", "scope_for"]
