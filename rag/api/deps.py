"""Request dependencies: the app's services and the authenticated caller (and so, the tenant).

Every route that reads or writes data takes a :data:`CallerDep`; the tenant comes from the API key, never
from the request body, so one tenant can never name another's data.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from rag.api.errors import STORE_UNAVAILABLE, ApiError
from rag.errors import StoreUnavailableError

if TYPE_CHECKING:
    from rag.api.jobs import JobManager
    from rag.api.links import LinkSigner
    from rag.api.readiness import StoreConnection
    from rag.config import Settings
    from rag.engine import RAG

__all__ = [
    "Caller",
    "CallerDep",
    "KeyRing",
    "MaybeCallerDep",
    "Services",
    "ServicesDep",
    "StoreReady",
    "is_loopback",
]


@dataclass
class Services:
    settings: Settings
    rag: RAG
    jobs: JobManager
    links: LinkSigner
    keys: KeyRing
    store: StoreConnection


class KeyRing:
    """API keys → tenants. Keys are compared as SHA-256 digests in constant time."""

    def __init__(self, keys: dict[str, str]) -> None:
        self._entries = [(hashlib.sha256(key.encode()).digest(), tenant) for key, tenant in keys.items()]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def tenant_for(self, key: str) -> str | None:
        digest = hashlib.sha256(key.encode()).digest()
        found: str | None = None
        for known, tenant in self._entries:  # no early exit: the time taken does not depend on the match
            if hmac.compare_digest(known, digest):
                found = tenant
        return found


@dataclass(frozen=True)
class Caller:
    tenant: str
    authenticated: bool


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_store(services: ServicesDep) -> Iterator[None]:
    """503 at once while the store is down; a request that finds it gone reports it (and still gets a 503)."""
    problem = services.store.problem
    if problem is not None:
        raise ApiError(503, f"the store is not available: {problem}", code=STORE_UNAVAILABLE)
    try:
        yield
    except StoreUnavailableError as exc:
        services.store.lost(exc.reason)
        raise


StoreReady = Depends(require_store)
"""For the ``dependencies`` of every route that reads or writes the store."""

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def get_caller(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Caller:
    return _authenticate(request, services, bearer.credentials if bearer is not None else api_key)


def get_optional_caller(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Caller | None:
    """The caller when a key is presented (or none is configured); None when a key is needed but absent."""
    presented = bearer.credentials if bearer is not None else api_key
    if services.keys and not presented:
        return None
    return _authenticate(request, services, presented)


def _authenticate(request: Request, services: Services, presented: str | None) -> Caller:
    keys = services.keys
    if not keys:
        # No keys configured: the server is for this machine only (rag serve binds to loopback, and a
        # server started some other way still refuses remote callers).
        if not is_loopback(request.client.host if request.client else None):
            raise ApiError(403, "this server has no API keys configured and only serves this machine", code="no_keys")
        request.state.tenant = services.settings.tenant
        return Caller(tenant=services.settings.tenant, authenticated=False)
    if not presented:
        raise ApiError(401, "missing API key (Authorization: Bearer <key>)", code="missing_key", headers=_CHALLENGE)
    tenant = keys.tenant_for(presented)
    if tenant is None:
        raise ApiError(401, "invalid API key", code="invalid_key", headers=_CHALLENGE)
    request.state.tenant = tenant  # for the access log
    return Caller(tenant=tenant, authenticated=True)


_CHALLENGE = {"WWW-Authenticate": "Bearer"}

CallerDep = Annotated[Caller, Depends(get_caller)]
MaybeCallerDep = Annotated[Caller | None, Depends(get_optional_caller)]
