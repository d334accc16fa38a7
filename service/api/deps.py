"""Request dependencies: the app's services (typed), the DB connection, the caller, their
access scope, and role checks. The only module besides the app factory that reads app.state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.access.scope import AccessScope, scope_for
from service.answers.engine import RagEngine
from service.auth import api_keys
from service.auth.identity import Role
from service.auth.provider import AuthContext
from service.auth.user import User
from service.cache.generations import ScopeWithGenerations, scope_statement
from service.container import Services
from service.core.client_ip import client_ip
from service.core.config import Settings
from service.core.db import Conn, Pool, RoundTrip
from service.core.exceptions import Forbidden, Unauthenticated
from service.core.quota import Quota
from service.core.ratelimit_headers import STATE_KEY
from service.knowledge.queue import QueueClient
from service.models.common import PageParams
from service.ratelimit import Bucket, LoginGuard, RateLimits
from service.search.query_embedding import QueryEmbedder
from service.storage import ObjectStore

T = TypeVar("T")
_bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Personal API key (POST /api/auth/api-keys)"
)


# Every dependency here is `async def`, even when it awaits nothing: FastAPI runs a plain `def`
# dependency in its thread pool, one hop per dependency per request, and under load each hop
# waits for a core to wake a thread (tests/architecture/test_wiring.py keeps it so).


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _part(read: Callable[[Services], T]) -> Any:
    """`Depends` on one part of the services; the Annotated alias that uses it names the type."""

    async def dependency(services: ServicesDep) -> T:
        return read(services)

    return Depends(dependency)


SettingsDep = Annotated[Settings, _part(lambda s: s.settings)]
PoolDep = Annotated[Pool, _part(lambda s: s.pool)]
AuthDep = Annotated[AuthContext, _part(lambda s: s.auth)]
StoreDep = Annotated[ObjectStore, _part(lambda s: s.store)]
QueueDep = Annotated[QueueClient, _part(lambda s: s.queue)]
EmbedderDep = Annotated[QueryEmbedder, _part(lambda s: s.embedder)]
EngineDep = Annotated[RagEngine, _part(lambda s: s.engine)]
RateLimitsDep = Annotated[RateLimits, _part(lambda s: s.rate_limits)]
LoginGuardDep = Annotated[LoginGuard, _part(lambda s: s.login_guard)]


async def get_client_ip(request: Request, settings: SettingsDep) -> str:
    return client_ip(request, settings)


ClientIp = Annotated[str, Depends(get_client_ip)]


async def get_conn(pool: PoolDep) -> AsyncIterator[Conn]:
    conn = await pool.getconn()  # PoolTimeout: the error handlers answer 503
    try:
        yield conn
    finally:
        await pool.putconn(conn)


DbConn = Annotated[Conn, Depends(get_conn)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ApiKey = Annotated[str | None, Depends(_api_key)]


def _spent(request: Request) -> list[Quota]:
    """The quotas this request has taken so far (for the RateLimit headers)."""
    state = request.scope.setdefault("state", {})
    spent: list[Quota] = state.setdefault(STATE_KEY, [])
    return spent


def _due(request: Request, buckets: Sequence[Bucket], user_id: UUID) -> list[tuple[Bucket, str]]:
    """The charges of `buckets` this request hasn't paid yet: one request charges a bucket once."""
    paid = {q.bucket for q in _spent(request)}
    return [(b, str(user_id)) for b in buckets if b not in paid]


async def spend(
    request: Request, limits: RateLimits, conn: Conn, buckets: Sequence[Bucket], user: User
) -> None:
    """Charges one request to each of the user's `buckets` not yet charged for this request, in
    one round trip, leaving the quotas for the RateLimit headers; raises RateLimited (429) at
    the first empty bucket."""
    await limits.charge_all(conn, _due(request, buckets, user.id), _spent(request))


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated(
            "not_authenticated", "A bearer access token is required.", challenge="Bearer"
        )
    return credentials.credentials


def _identified(*buckets: Bucket) -> Callable[..., Coroutine[Any, Any, User]]:
    """The caller, from a personal API key or a bearer token, charged `buckets` on the request's
    connection in the same round trip as reading the caller (`_identify_and_charge`)."""

    async def dependency(
        request: Request,
        conn: DbConn,
        auth: AuthDep,
        limits: RateLimitsDep,
        credentials: Credentials,
        api_key: ApiKey,
    ) -> User:
        user, _ = await _identify_and_charge(
            request, conn, auth, limits, credentials, api_key, buckets
        )
        return user

    return dependency


# The caller, spending nothing.
authenticate_caller = _identified()
Caller = Annotated[User, Depends(authenticate_caller)]

# The authenticated caller; every such request spends one from the user's `api` bucket.
get_current_user = _identified("api")
CurrentUser = Annotated[User, Depends(get_current_user)]


async def _identify_and_charge(
    request: Request,
    conn: Conn,
    auth: AuthContext,
    limits: RateLimits,
    credentials: HTTPAuthorizationCredentials | None,
    api_key: str | None,
    buckets: Sequence[Bucket],
    *,
    with_scope: bool = False,
) -> tuple[User, ScopeWithGenerations | None]:
    """The caller, charged `buckets`, and (`with_scope`) the scope their questions search.

    When the token names its user outright (our own tokens), the user's row, the charges and
    the scope go in one round trip: under load every round trip waits for the cores twice,
    and a cached answer needs nothing else from the database. The charges are made whether or
    not the row then admits the caller (a deleted or disabled user's token spends from that
    user's own buckets on its way to 401/403), and auth's answer is judged first, so a refused
    caller never sees a 429. The scope is read for the role the token claims and used only if
    the row agrees. API keys and an IdP's tokens (found by subject) read the caller first.
    """
    if api_key:
        user = await api_keys.authenticate(conn, api_key, request.method)
        await spend(request, limits, conn, buckets, user)
        return user, None
    claims = await auth.verifier.verify(_bearer_token(credentials))
    user_id = auth.named_user(claims)
    if user_id is None:
        user = await auth.user_for(conn, claims)
        await spend(request, limits, conn, buckets, user)
        return user, None
    trip = RoundTrip()
    row = trip.add(auth.user_statement(user_id))
    charges = limits.prepare(conn, _due(request, buckets, user_id))
    granted = trip.add(charges.statement)
    scope = trip.add(scope_statement(user_id, claims.role)) if with_scope and claims.role else None
    await trip.run(conn)
    user = auth.admit(row.value)
    await charges.settle(granted.value, _spent(request))
    return user, (scope.value if scope is not None and user.role == claims.role else None)


@dataclass(frozen=True)
class Asker:
    """A caller, charged for their request, and (for a question) the scope it searches when it
    came with the caller (else the engine reads it)."""

    user: User
    scope: ScopeWithGenerations | None


def _briefly(
    *buckets: Bucket, with_scope: bool = False
) -> Callable[..., Coroutine[Any, Any, Asker]]:
    """The caller, charged `buckets` on a connection returned at once: answers may stream for
    seconds."""

    async def dependency(
        request: Request,
        pool: PoolDep,
        auth: AuthDep,
        limits: RateLimitsDep,
        credentials: Credentials,
        api_key: ApiKey,
    ) -> Asker:
        async with pool.connection() as conn:
            user, scope = await _identify_and_charge(
                request, conn, auth, limits, credentials, api_key, buckets, with_scope=with_scope
            )
        return Asker(user, scope)

    return dependency


def _brief_caller(*buckets: Bucket) -> Callable[..., Coroutine[Any, Any, User]]:
    """`_briefly`'s caller alone."""
    charged_caller = _briefly(*buckets)

    # A default, not Annotated: the annotation is a string here and can't name a local.
    async def dependency(caller: Asker = Depends(charged_caller)) -> User:
        return caller.user

    return dependency


# A question's caller with their scope: a cached answer costs one round trip to the database.
get_asker = _briefly("api", "rag", with_scope=True)
AskerDep = Annotated[Asker, Depends(get_asker)]


# Like CurrentUser, but holding no connection.
get_brief_user = _brief_caller("api")
BriefUser = Annotated[User, Depends(get_brief_user)]


async def get_scope(conn: DbConn, user: CurrentUser) -> AccessScope:
    return await scope_for(conn, user.id, user.role)


CallerScope = Annotated[AccessScope, Depends(get_scope)]


def charged(bucket: Bucket) -> Any:
    """The caller (as CurrentUser, which spends `api`), also spending from `bucket` (e.g.
    "uploads"); use `charged_brief` on routes that must not hold a connection (streams)."""

    async def dependency(
        request: Request, conn: DbConn, limits: RateLimitsDep, user: CurrentUser
    ) -> User:
        await spend(request, limits, conn, [bucket], user)
        return user

    return Depends(dependency)


def charged_brief(bucket: Bucket) -> Any:
    """BriefUser, also spending from `bucket` in the same round trip as `api`."""
    return Depends(_brief_caller("api", bucket))


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(
                "forbidden_role", f"This action needs one of the roles: {', '.join(roles)}."
            )
        return user

    return check


async def page_params(
    page: int = Query(1, ge=1, le=100_000, description="1-based page number"),
    page_size: int = Query(20, ge=1, le=100, description="Items per page (max 100)"),
) -> PageParams:
    return PageParams(page=page, page_size=page_size)
