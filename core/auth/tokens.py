"""API tokens: created for a user, shown once, stored as a hash, checked on every request.

A token is ``odt_`` plus 32 random bytes (``secrets.token_urlsafe``); the prefix makes a
leaked token recognisable to secret scanners and to people. The state store keeps only its
SHA-256 (a token has 256 bits of entropy, so a fast hash is enough: there is nothing to
brute-force, unlike a password). Each use is checked against the store and the credentials
file *now*: a revoked token, an expired one or one whose user was removed stops working on
the next request on every replica. Failed attempts are throttled per client through the
state store (:mod:`core.state.throttle`), and every use, rejection, creation and revocation
goes to the audit log without the token text.

Roles: ``API_ROLES`` may use the API; the HTTP layer answers 403 for any other role (a
``manager`` is the read-only viewer of the dashboard and has no API access), so no token is
ever created for one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine, Row

from core.auth.credentials import load_credentials
from core.auth.users import CredentialsError, UserRecord, normalize_username
from core.state.audit import TOKEN_LIKE, write_audit
from core.state.tables import api_tokens
from core.state.throttle import SharedPolicy, forget_idle, record_failure, release, reserve

TOKEN_PREFIX = "odt_"
TOKEN_BYTES = 32
API_ROLES: tuple[str, ...] = ("engineer", "admin")
MAX_EXPIRES_DAYS = 3650
MAX_LABEL_CHARS = 100
LAST_USED_RESOLUTION = timedelta(seconds=1)  # last_used_at is written at most once a second per token
CLIENT_POLICY = SharedPolicy(free_attempts=10, base_delay=2.0, max_delay=300.0)
THROTTLE_PREFIX = "api-token-client:"
PRUNE_EVERY = 200  # failures between two sweeps of idle throttle keys, per process


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message names the value and what is allowed."""


class TokenRejected(Exception):
    """The request's token does not grant access; the message says why and what to do.

    ``reason`` is one of: missing, unknown, expired, revoked, user removed. ``token_id`` and
    ``username`` name the token when it was found (for the audit log).
    """

    def __init__(
        self, reason: str, message: str, *, token_id: int | None = None, username: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.token_id = token_id
        self.username = username


class TokenThrottled(Exception):
    """Too many failed token attempts from this client; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        wait = max(1, round(retry_after))
        super().__init__(f"too many failed API token attempts from this client; try again in {wait} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class TokenIdentity:
    """Who a valid token speaks for, with the user's role as the credentials file says now."""

    token_id: int
    username: str
    role: str


@dataclass(frozen=True)
class TokenInfo:
    """A token as it may be shown: everything but the token (and its hash)."""

    id: int
    username: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    def state(self, now: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


# --- the credentials file, read once per change --------------------------------------------

_users_cache: dict[Path, tuple[tuple[int, int, int], dict[str, UserRecord]]] = {}
_users_lock = threading.Lock()


def current_users(credentials_path: Path) -> dict[str, UserRecord]:
    """The credentials file's users, parsed again only when the file changed (inode, mtime, size).

    Every token use asks who exists, so a removed user is refused on the next request; the
    cache makes that a ``stat`` instead of a YAML parse.
    """
    try:
        info = os.stat(credentials_path)
    except FileNotFoundError:
        raise CredentialsError(f"There is no credentials file at {credentials_path}.") from None
    stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
    with _users_lock:
        cached = _users_cache.get(credentials_path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    users = load_credentials(credentials_path)
    with _users_lock:
        _users_cache[credentials_path] = (stamp, users)
    return users


# --- creating, listing, revoking -----------------------------------------------------------


def _info(row: Row[tuple[object, ...]]) -> TokenInfo:
    m = row._mapping
    return TokenInfo(
        id=m["id"],
        username=m["username"],
        label=m["label"],
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        revoked_by=m["revoked_by"],
    )


_INFO_COLUMNS = [c for c in api_tokens.c if c.name != "token_hash"]


def check_label(label: str) -> str:
    label = label.strip()
    if len(label) > MAX_LABEL_CHARS:
        raise TokenError(f"label is {len(label)} characters long; use at most {MAX_LABEL_CHARS}.")
    if any(unicodedata.category(ch).startswith("C") for ch in label):
        raise TokenError(f"label {label!r} holds control characters; use printable text only.")
    if TOKEN_LIKE.search(label):
        raise TokenError(
            "label looks like an API token; labels are stored and shown in clear, never put a token in one."
        )
    return label


def check_expires_days(expires_days: int | None) -> int | None:
    if expires_days is None:
        return None
    if isinstance(expires_days, bool) or not isinstance(expires_days, int):
        raise TokenError(f"expires_days is {expires_days!r}; give a whole number of days.")
    if not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise TokenError(
            f"expires_days is {expires_days}; give 1 to {MAX_EXPIRES_DAYS} days, or none for a token "
            "that does not expire."
        )
    return expires_days


def api_user(username: str, credentials_path: Path) -> UserRecord:
    """The user a token may be created for: existing, with an API role."""
    try:
        name = normalize_username(username)
    except CredentialsError as error:
        raise TokenError(str(error)) from None
    record = current_users(credentials_path).get(name)
    if record is None:
        raise TokenError(
            f"there is no user {name!r} in {credentials_path}; add one with: python -m core users add {name}"
        )
    if record.role not in API_ROLES:
        raise TokenError(
            f"user {name!r} has the role {record.role!r}, which has no API access; tokens are for "
            f"the roles {', '.join(API_ROLES)}."
        )
    return record


def create_token(
    engine: Engine,
    username: str,
    *,
    label: str = "",
    expires_days: int | None = None,
    credentials_path: Path,
    by: str | None = None,
    now: datetime | None = None,
) -> tuple[int, str]:
    """Create a token for ``username``; returns (id, the token). The token is never stored or shown again.

    ``by`` is who asked (the audit log's actor): the signed-in user, or ``cli:<account>``;
    by default the token's own user.
    """
    label = check_label(label)
    days = check_expires_days(expires_days)
    record = api_user(username, credentials_path)
    now = now or datetime.now(UTC)
    token = new_token()
    expires_at = now + timedelta(days=days) if days is not None else None
    with engine.begin() as connection:
        token_id = connection.execute(
            api_tokens.insert()
            .values(
                username=record.username,
                label=label,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=expires_at,
            )
            .returning(api_tokens.c.id)
        ).scalar_one()
        write_audit(
            connection,
            action="token.create",
            actor=by or record.username,
            target=f"token:{token_id}",
            detail={"user": record.username, "label": label, "expires_at": expires_at},
            at=now,
        )
    return int(token_id), token


def list_tokens(engine: Engine, *, username: str | None = None) -> list[TokenInfo]:
    """Every token (or ``username``'s), oldest first; never the token or its hash."""
    query = select(*_INFO_COLUMNS).order_by(api_tokens.c.id)
    if username is not None:
        query = query.where(api_tokens.c.username == username)
    with engine.connect() as connection:
        return [_info(row) for row in connection.execute(query)]


def revoke_token(
    engine: Engine, token_id: int, *, by: str, owner: str | None = None, now: datetime | None = None
) -> TokenInfo:
    """Revoke a token; it stops working on the next request. Revoking a revoked token changes nothing.

    ``owner``: only a token of that user may be revoked (an engineer revoking their own);
    another's is reported as not found, so ids do not reveal other people's tokens.
    """
    now = now or datetime.now(UTC)
    with engine.begin() as connection:
        query = select(*_INFO_COLUMNS).where(api_tokens.c.id == token_id)
        if owner is not None:
            query = query.where(api_tokens.c.username == owner)
        row = connection.execute(query).one_or_none()
        if row is None:
            whose = f" of user {owner!r}" if owner is not None else ""
            raise TokenError(
                f"there is no API token with id {token_id}{whose}; see: python -m core tokens list"
            )
        info = _info(row)
        if info.revoked_at is not None:
            return info
        connection.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now, revoked_by=by)
        )
        write_audit(
            connection,
            action="token.revoke",
            actor=by,
            target=f"token:{token_id}",
            detail={"user": info.username},
            at=now,
        )
    return replace(info, revoked_at=now, revoked_by=by)


# --- using a token -------------------------------------------------------------------------

_failures_seen = 0


def _judge(
    connection: Connection, token: str | None, credentials_path: Path, now: datetime
) -> TokenIdentity | TokenRejected:
    """The identity ``token`` grants now, or why not; touches nothing."""
    if not token:
        return TokenRejected(
            "missing",
            "no API token: send the header 'Authorization: Bearer <token>'; create a token with "
            "'python -m core tokens create --user NAME' or in the dashboard's API access section",
        )
    row = connection.execute(
        select(*_INFO_COLUMNS).where(api_tokens.c.token_hash == hash_token(token))
    ).one_or_none()
    if row is None:
        return TokenRejected("unknown", "the API token is not recognised: it is mistyped or was never issued")
    info = _info(row)
    if info.revoked_at is not None:
        reason, message = (
            "revoked",
            f"API token {info.id} was revoked at {info.revoked_at:%Y-%m-%d %H:%M} UTC",
        )
    elif info.expires_at is not None and info.expires_at <= now:
        reason, message = "expired", f"API token {info.id} expired at {info.expires_at:%Y-%m-%d %H:%M} UTC"
    else:
        user = current_users(credentials_path).get(info.username)
        if user is not None:
            return TokenIdentity(token_id=info.id, username=user.username, role=user.role)
        reason, message = (
            "user removed",
            f"the user {info.username!r} of API token {info.id} no longer exists",
        )
    return TokenRejected(reason, message + "; create a new token", token_id=info.id, username=info.username)


def authenticate_token(
    engine: Engine, token: str | None, *, client: str, credentials_path: Path, now: datetime | None = None
) -> TokenIdentity:
    """Who ``token`` (the Bearer value, or None) speaks for; TokenRejected or TokenThrottled otherwise.

    One transaction per attempt, holding the client's throttle row from the start: the attempt
    is reserved before it is judged, so parallel bad tokens are each counted. A missing token
    counts as a failure too, which bounds what an anonymous flood can write to the audit log.
    Raises CredentialsError when the credentials file cannot be read (the server's fault, not
    the client's).
    """
    global _failures_seen
    now = now or datetime.now(UTC)
    key = THROTTLE_PREFIX + client
    stamp = now.timestamp()
    with engine.begin() as connection:
        _, locked_for = reserve(connection, key, stamp, CLIENT_POLICY)
        if locked_for > 0:
            raise TokenThrottled(locked_for)
        verdict = _judge(connection, token, credentials_path, now)
        if isinstance(verdict, TokenIdentity):
            _record_use(connection, verdict, client, now)
            release(connection, key)
            return verdict
        lock = record_failure(connection, key, stamp, CLIENT_POLICY)
        detail: dict[str, object] = {"client": client, "reason": verdict.reason}
        if lock:
            detail["locked_seconds"] = lock
        write_audit(
            connection,
            action="token.rejected",
            actor=verdict.username,
            target=f"token:{verdict.token_id}" if verdict.token_id is not None else None,
            detail=detail,
            at=now,
        )
        _failures_seen += 1
        if _failures_seen % PRUNE_EVERY == 0:
            forget_idle(connection, stamp, CLIENT_POLICY)
    raise verdict


def _record_use(connection: Connection, identity: TokenIdentity, client: str, now: datetime) -> None:
    connection.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == identity.token_id,
            (api_tokens.c.last_used_at.is_(None)) | (api_tokens.c.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
    )
    write_audit(
        connection,
        action="token.use",
        actor=identity.username,
        target=f"token:{identity.token_id}",
        detail={"client": client},
        at=now,
    )
