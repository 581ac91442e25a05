"""The login's rules, apart from drawing it: setup, password attempts, re-login cookies, logouts.

Passwords are checked here instead of in streamlit-authenticator's ``login()``: that one
answers faster for unknown names than for wrong passwords and only offers a permanent
per-name lock-out. Here unknown names are checked against a dummy bcrypt hash of the same
cost, both get one message, and failures feed :mod:`core.auth.throttle`.

State here is process-wide on purpose (every browser session of one server shares it): the
throttle, the parsed credentials file (keyed by its stat) and the re-login tokens of sessions
that logged out. Nothing per visitor; no Streamlit (:mod:`ui.auth` draws the gate).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path

from core.auth.credentials import load_credentials, permission_warning
from core.auth.first_start import first_start, first_start_banner
from core.auth.settings import AuthConfigError, AuthSettings, load_auth_settings, validate_cookie_key
from core.auth.throttle import LoginThrottle, format_wait
from core.auth.users import (
    BCRYPT_ROUNDS,
    CredentialsError,
    UserRecord,
    check_password,
    hash_cost,
    hash_password,
    password_fingerprint,
)

GENERIC_FAILURE = "Incorrect user name or password."
COOKIE_CLOCK_SLACK_S = 60  # a cookie's expiry may be this far past its lifetime (clock skew)

THROTTLE = LoginThrottle()
_lock = threading.Lock()
_credentials_cache: dict[str, tuple[tuple[int, int, int], dict[str, UserRecord]]] = {}
_dummy_hashes: dict[int, str] = {}
_revoked_tokens: dict[tuple[str, float], float] = {}  # (username, exp_date) -> exp_date
_reported: set[str] = set()


class LoginSetupError(Exception):
    """The login cannot work with the current files/settings; shown instead of the page."""


def report_once(message: str) -> None:
    """Tell the server's terminal, once per process, about something the operator must fix."""
    with _lock:
        if message in _reported:
            return
        _reported.add(message)
    print(f"[dashboard] {message}", file=sys.stderr, flush=True)


def cached_credentials(path: Path) -> dict[str, UserRecord]:
    """The parsed credentials file, re-read only when its size, mtime or inode changes."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise LoginSetupError(
            f"There is no credentials file at {path}. Create the first user with: "
            "python -m core users add NAME --role admin"
        ) from None
    stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    cached = _credentials_cache.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    users = load_credentials(path)
    warning = permission_warning(path)
    if warning:
        report_once(f"warning: {warning}")
    _credentials_cache[str(path)] = (stamp, users)
    return users


def login_setup() -> tuple[AuthSettings, str, dict[str, UserRecord]]:
    """Settings, a validated cookie key and the users; first start happens here."""
    try:
        auth = load_auth_settings()
        with _lock:
            created = first_start(auth)
        if created:
            print("\n" + first_start_banner(created) + "\n", file=sys.stderr, flush=True)
            auth = load_auth_settings()
        key = validate_cookie_key(auth)
        users = cached_credentials(auth.credentials_file)
    except (AuthConfigError, CredentialsError) as error:
        raise LoginSetupError(str(error)) from None
    if not users:
        raise LoginSetupError(
            f"{auth.credentials_file} has no users. Add one with: python -m core users add NAME --role admin"
        )
    return auth, key, users


def dummy_hash(users: dict[str, UserRecord]) -> str:
    """A hash with the cost most users have, so unknown names cost the same bcrypt time."""
    costs = Counter(hash_cost(u.password_hash) for u in users.values())
    cost = costs.most_common(1)[0][0] if costs else BCRYPT_ROUNDS
    if cost not in _dummy_hashes:  # a race only computes it twice
        _dummy_hashes[cost] = hash_password("not a real password", rounds=cost)
    return _dummy_hashes[cost]


def attempt_login(username: str, password: str, client: str) -> tuple[UserRecord | None, str]:
    """Check one attempt against the throttle and the file: ``(record, "")`` or ``(None, why)``.

    Unknown user and wrong password take the same path (one bcrypt check each) and give the
    same message; both count against the name and the client.
    """
    name = username.strip().lower()[:128]
    if not name or not password:
        return None, "Enter your user name and password."
    keys = [("user", name), ("client", client)]
    wait = THROTTLE.wait_seconds(keys)
    if wait > 0:
        return None, f"Too many failed attempts, {format_wait(wait)}."
    _auth, _key, users = login_setup()
    record = users.get(name)
    matches = check_password(password, record.password_hash if record else dummy_hash(users))
    if record is None or not matches:
        THROTTLE.record_failure(keys)
        wait = THROTTLE.wait_seconds(keys)
        if wait > 0:
            return None, f"{GENERIC_FAILURE} Too many failed attempts, {format_wait(wait)}."
        return None, GENERIC_FAILURE
    THROTTLE.record_success([keys[0]])
    return record, ""


def revoke_token(username: str, exp_date: float) -> None:
    """Refuse, in this process, the re-login cookie of a session that logged out."""
    now = time.time()
    with _lock:
        for token, expires in list(_revoked_tokens.items()):
            if expires < now:
                del _revoked_tokens[token]
        _revoked_tokens[(username, exp_date)] = exp_date


def _is_revoked(username: str, exp_date: float) -> bool:
    with _lock:
        return (username, exp_date) in _revoked_tokens


def cookie_accepted(record: UserRecord, exp_date: float, auth: AuthSettings) -> bool:
    """Whether a re-login cookie of ``record`` expiring at ``exp_date`` may sign in.

    Refused: tokens of sessions that logged out, tokens issued before the user's last
    password change and tokens living longer than the configured lifetime.
    """
    lifetime = auth.cookie_expiry_days * 86400
    issued = exp_date - lifetime
    if exp_date > time.time() + lifetime + COOKIE_CLOCK_SLACK_S or _is_revoked(record.username, exp_date):
        return False
    return record.password_changed_at is None or issued >= record.password_changed_at - 1


def session_is_stale(users: dict[str, UserRecord], username: str, fingerprint: object) -> bool:
    """A signed-in session whose user was removed or whose password changed since."""
    record = users.get(username)
    return record is None or fingerprint != password_fingerprint(record)
