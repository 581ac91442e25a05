"""``Authorization: Bearer <token>``: the API's one dependency for who is asking.

The token is checked by :func:`core.auth.tokens.authenticate_token` against the state store
(hashes only; expiry, revocation and the user's presence in the credentials file; failures
throttled per client; every use audited), so every replica sharing the store agrees within
its polling interval. The answers:

* 401 with ``WWW-Authenticate: Bearer`` for a missing, malformed, unknown, expired or revoked
  token, or one whose user was removed (the message says which);
* 429 with ``Retry-After`` when this client failed too often (:class:`TokenThrottled`);
* 403 when the token's user has a role without API access (``manager``: the read-only viewer);
* 503 when the login or the state store is not usable.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from core.auth.settings import AuthConfigError, load_auth_settings
from core.auth.tokens import API_ROLES, TokenIdentity, TokenRejected, TokenThrottled, authenticate_token
from core.auth.users import CredentialsError
from core.state.settings import StateConfigError
from core.state.store import state_engine
from web.api.errors import ApiError, log

SCHEME = "Bearer"
CHALLENGE = {"WWW-Authenticate": f'{SCHEME} realm="optimization-dashboard"'}


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None when absent or another scheme."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != SCHEME.lower() or not token.strip():
        return None
    return token.strip()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _rejected(error: TokenRejected) -> ApiError:
    """401 naming why (missing, unknown, expired, revoked, user removed) and what to do."""
    return ApiError(401, f"Not authenticated (`Authorization` header): {error}.", CHALLENGE)


def require_identity(request: Request) -> TokenIdentity:
    """The token's identity, or the ApiError above; runs before any parameter is read."""
    token = bearer_token(request)
    try:
        credentials_path = load_auth_settings().credentials_file
        identity = authenticate_token(
            state_engine(), token, client=_client(request), credentials_path=credentials_path
        )
    except TokenRejected as error:
        raise _rejected(error) from None
    except TokenThrottled as error:
        wait = max(1, math.ceil(float(error.retry_after)))
        raise ApiError(
            429,
            f"Too many failed token attempts from this client; try again in {wait} s.",
            {"Retry-After": str(wait)},
        ) from None
    except (AuthConfigError, CredentialsError, StateConfigError, SQLAlchemyError, OSError) as error:
        log(f"cannot check tokens: {error!r}")
        raise ApiError(503, "The dashboard's login is not set up correctly; ask its operator.") from None
    if identity.role not in API_ROLES:
        raise ApiError(
            403,
            f"User {identity.username!r} has role {identity.role!r}, which has no API access; "
            f"the API is for the roles {', '.join(API_ROLES)}.",
        )
    return identity


Identity = Annotated[TokenIdentity, Depends(require_identity)]
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, unknown, expired or revoked token"},
    403: {"description": "the token's user has no API access (role manager)"},
    429: {"description": "too many failed token attempts from this client"},
    503: {"description": "the database or the login is not usable"},
}
