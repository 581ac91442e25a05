"""Signed, short-lived download links: who may export which filter, until when. No Streamlit.

The CSV export is served by its own HTTP route (``web/download.py``), outside the
Streamlit session that knows who is signed in. The signed-in page therefore hands out a link
whose ``token`` is an HMAC-SHA256 over (user name, the user's password fingerprint, the
canonical filter query string, expiry), and the route accepts it only if the signature, the
expiry and the filter all check out against the user's *current* fingerprint: a password
change (or a removed user) voids every link made before it.

The signing key is derived from the dashboard's cookie key (``core.auth.settings``), so every
replica configured with the same cookie key accepts every replica's links, and rotating the
cookie key revokes them. The derivation (an HMAC of a fixed label) keeps the link key distinct
from the key that signs the re-login cookie: a token of one kind is never valid as the other.

Token format (URL-safe, no padding): ``v1.<user name, base64url>.<expiry, unix seconds>.<MAC,
base64url>``. Nothing in it is secret; it only cannot be made or changed without the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from core.query.filter import SessionFilter

VERSION = "v1"
LINK_LIFETIME_S = 15 * 60
KEY_LABEL = b"optimization-dashboard/sessions-csv-download-link/v1"
TOKEN_PARAM = "token"
MAX_TOKEN_LENGTH = 1024

EXPIRED_MESSAGE = "This download link has expired; go back to the Sessions page and click Download CSV again."
INVALID_MESSAGE = (
    "This download link is not valid (it was changed, made for other filters, or its user's "
    "password or access changed since); go back to the Sessions page and click Download CSV "
    "again."
)
MISSING_MESSAGE = (
    "This download needs a link from the dashboard: sign in, open the Sessions page and click Download CSV."
)


class LinkError(Exception):
    """The link cannot be honoured; ``str(error)`` is the message for the person holding it."""


@dataclass(frozen=True)
class LinkGrant:
    """What a valid token allows: ``username`` may download ``query`` until ``expires``."""

    username: str
    query: str
    expires: int


def derive_key(cookie_key: str) -> bytes:
    """The link-signing key: the same on every replica that shares the cookie key."""
    return hmac.new(cookie_key.encode("utf-8"), KEY_LABEL, hashlib.sha256).digest()


def canonical_query(f: SessionFilter) -> str:
    """The filter's query string with paging dropped, in one fixed order: what gets signed.

    ``status=failed&status=completed`` and ``status=completed&status=failed`` are one filter
    and give one text (the filter sorts and de-duplicates its values).
    """
    return urlencode(f.without_paging().to_params(), doseq=True)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, username: str, credential: str, query: str, expires: int) -> bytes:
    # Length-prefixed fields: no two (user, credential, query, expiry) share a message.
    fields = (VERSION, username, credential, query, str(expires))
    message = b"".join(len(part).to_bytes(4, "big") + part for part in (f.encode("utf-8") for f in fields))
    return hmac.new(key, message, hashlib.sha256).digest()


def make_token(
    key: bytes,
    username: str,
    query: str,
    *,
    credential: str,
    now: float | None = None,
    lifetime_s: int = LINK_LIFETIME_S,
) -> str:
    """A token letting ``username`` download ``query`` for the next ``lifetime_s`` seconds,
    while their password fingerprint is still ``credential``."""
    expires = int(time.time() if now is None else now) + lifetime_s
    mac = _mac(key, username, credential, query, expires)
    return ".".join((VERSION, _b64(username.encode("utf-8")), str(expires), _b64(mac)))


def check_token(
    key: bytes,
    token: str | None,
    query: str,
    *,
    credential_of: Callable[[str], str | None],
    now: float | None = None,
) -> LinkGrant:
    """The grant of a valid ``token`` for ``query``; otherwise :class:`LinkError`.

    ``credential_of(username)`` gives that user's current password fingerprint, or None when
    the user no longer exists. The signature is checked (in constant time) before anything the
    token claims is trusted; a token for another filter, made before a password change or for
    a removed user fails it like a changed one does (one answer: the route does not tell
    which user names exist). Only then the expiry.
    """
    if not token:
        raise LinkError(MISSING_MESSAGE)
    parts = token.split(".")
    if len(token) > MAX_TOKEN_LENGTH or len(parts) != 4 or parts[0] != VERSION:
        raise LinkError(INVALID_MESSAGE)
    _version, user_part, expires_part, mac_part = parts
    try:
        username = _unb64(user_part).decode("utf-8")
        mac = _unb64(mac_part)
        expires = int(expires_part) if expires_part.isdigit() else -1
    except (binascii.Error, ValueError):
        raise LinkError(INVALID_MESSAGE) from None
    if expires < 0 or not username:
        raise LinkError(INVALID_MESSAGE)
    credential = credential_of(username)
    expected = _mac(key, username, "" if credential is None else credential, query, expires)
    if not hmac.compare_digest(mac, expected) or credential is None:
        raise LinkError(INVALID_MESSAGE)
    if (time.time() if now is None else now) >= expires:
        raise LinkError(EXPIRED_MESSAGE)
    return LinkGrant(username=username, query=query, expires=expires)
