"""The login gate every page script starts with: ``user = require_login()``.

Why each page calls it (and not ``app.py`` once): with a ``pages/`` folder Streamlit runs
each page script on its own, so a gate in ``app.py`` alone leaves ``/<page>`` open. Here an
anonymous visitor gets the login form and ``st.stop()``; nothing of the page below the call
runs. After sign-in the same script run continues, so the page and its query string (a deep
link such as ``/Sessions?status=failed``) are exactly what the visitor asked for.

streamlit-authenticator supplies the re-login cookie (a signed JWT set and deleted in the
browser) and the session-state keys it is known for. The rules (setup, password attempts and
their throttle, which cookies may sign in, revoked logouts) live in :mod:`core.auth.login`;
this module only keeps the Streamlit side. Nothing per-visitor lives at module level: the
authenticator is built on every run.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth

from core.auth.credentials import to_authenticator_credentials
from core.auth.login import (
    THROTTLE,
    LoginSetupError,
    attempt_login,
    cookie_accepted,
    dummy_hash,
    login_setup,
    report_once,
    revoke_token,
    session_is_stale,
)
from core.auth.settings import AuthSettings
from core.auth.users import User, UserRecord, password_fingerprint
from core.config import SettingsError, load_settings
from ui.shell import APP_TITLE, draw_shell

# THROTTLE is core.auth.login's process-wide one, named here for the page tests that reset it.
__all__ = ["THROTTLE", "User", "require_login", "signed_in_fingerprint"]

USERNAME_KEY = "auth_login_username"
PASSWORD_KEY = "auth_login_password"
_NOTICE = "_auth_notice"  # (kind, text) shown above the form until the next attempt
_FINGERPRINT = "_auth_password_fingerprint"  # which password hash the session signed in with
_TOKEN_EXP = "_auth_token_exp"  # exp_date of this session's re-login cookie
_COOKIE_SYNC = "_auth_cookie_sync"  # a cookie write/delete the browser has not confirmed yet
_COOKIE_SYNC_MAX_RUNS = 10
_LOGOUT = "_auth_logout_requested"

# --- setup -----------------------------------------------------------------------------------


def _stop_with_setup_error(message: str) -> None:
    report_once(f"login is not set up: {message}")
    st.error(f"**The dashboard's login is not set up correctly.**\n\n{message}", icon=":material/block:")
    st.stop()


def _authenticator(auth: AuthSettings, key: str, users: dict[str, UserRecord]) -> Any:
    """A fresh ``Authenticate`` for this run (never cached: it holds one visitor's cookie)."""
    return stauth.Authenticate(
        to_authenticator_credentials(users),
        cookie_name=auth.cookie_name,
        cookie_key=key,
        cookie_expiry_days=auth.cookie_expiry_days,
        auto_hash=False,
    )


# --- who is signed in ----------------------------------------------------------------------


def signed_in_fingerprint() -> str | None:
    """The password fingerprint this session signed in with (None when nobody is signed in)."""
    value = st.session_state.get(_FINGERPRINT)
    return value if isinstance(value, str) and value else None


def _sign_in(record: UserRecord, token_exp: float | None = None) -> None:
    """Set the session state streamlit-authenticator and our checks rely on."""
    st.session_state.update(
        {
            "authentication_status": True,
            "username": record.username,
            "name": record.name,
            "email": record.email,
            "roles": [record.role],
            "logout": None,
            _FINGERPRINT: password_fingerprint(record),
            _TOKEN_EXP: token_exp,
        }
    )
    st.session_state.pop(_NOTICE, None)


def _forget_session() -> None:
    """Drop everything this session held and refuse its re-login token in this process.

    Called before the authenticator (and its cookie widget) exists in this run, so every key
    can go, widget state of the pages included: "logout clears the session".
    """
    username = st.session_state.get("username")
    exp_date = st.session_state.get(_TOKEN_EXP)
    if username and isinstance(exp_date, int | float):
        revoke_token(username, exp_date)
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def _session_is_stale(users: dict[str, UserRecord]) -> bool:
    """Signed in, but the user was removed or their password changed since."""
    if st.session_state.get("authentication_status") is not True:
        return False
    return session_is_stale(users, st.session_state.get("username") or "", st.session_state.get(_FINGERPRINT))


def _session_user(users: dict[str, UserRecord]) -> User | None:
    if st.session_state.get("authentication_status") is not True:
        return None
    record = users.get(st.session_state.get("username") or "")
    return record.public() if record else None


def _restore_from_cookie(authenticator: Any, auth: AuthSettings, users: dict[str, UserRecord]) -> User | None:
    """Sign in from a valid re-login cookie (a reload, a new tab) without the password.

    Refused: unknown users and whatever :func:`core.auth.login.cookie_accepted` refuses.
    """
    if auth.cookie_expiry_days <= 0:
        return None
    try:
        token = authenticator.cookie_controller.get_cookie()
    except Exception as error:  # a tampered cookie must not become a traceback
        report_once(f"ignored an unreadable login cookie ({type(error).__name__})")
        return None
    if not token or not isinstance(token, dict):
        return None
    username, exp_date = token.get("username"), token.get("exp_date")
    record = users.get(username) if isinstance(username, str) else None
    if record is None or not isinstance(exp_date, int | float):
        return None
    if not cookie_accepted(record, float(exp_date), auth):
        return None
    _sign_in(record, token_exp=float(exp_date))
    return record.public()


def _request_cookie(op: str) -> None:
    """Ask for the re-login cookie to be written ("set") or removed ("delete")."""
    st.session_state[_COOKIE_SYNC] = {"op": op, "runs": 0}


def _sync_cookie(authenticator: Any, auth: AuthSettings) -> None:
    """Write or delete the cookie until the browser's own cookie list confirms it.

    The library's cookie widget acts in the browser (JavaScript in a hidden iframe); drawn
    once, it can be torn down by the next rerun before it ran, leaving a signed-out browser
    with a live cookie. So the request stays in the session and the widget is drawn again on
    each run until the cookie list the library reads back agrees (or a few runs passed).
    """
    # One slot at a fixed position for the cookie widgets: when they come and go, the
    # elements after them keep their places (otherwise a stale copy of the login form can
    # linger under the new one until the next complete run).
    slot = st.container(key="auth_cookie_slot")
    action = st.session_state.get(_COOKIE_SYNC)
    if not action or auth.cookie_expiry_days <= 0:
        st.session_state.pop(_COOKIE_SYNC, None)
        return
    model = authenticator.cookie_controller.cookie_model
    manager = model.cookie_manager
    seen = manager.cookies.get(auth.cookie_name) if isinstance(manager.cookies, dict) else None
    action["runs"] += 1
    if action["op"] == "set":
        if "token" not in action:
            model.exp_date = (datetime.now() + timedelta(days=auth.cookie_expiry_days)).timestamp()
            action["token"] = model._token_encode()  # the library's format, so it can read it
            action["exp"] = model.exp_date
            st.session_state[_TOKEN_EXP] = model.exp_date
        if seen == action["token"] or action["runs"] > _COOKIE_SYNC_MAX_RUNS:
            st.session_state.pop(_COOKIE_SYNC, None)
            return
        with slot:
            manager.set(
                auth.cookie_name,
                action["token"],
                key="auth_cookie_set",
                expires_at=datetime.fromtimestamp(action["exp"]),
                secure=_served_over_https(),
                same_site="strict",
            )
    else:
        if (seen is None and action["runs"] > 1) or action["runs"] > _COOKIE_SYNC_MAX_RUNS:
            st.session_state.pop(_COOKIE_SYNC, None)
            return
        with slot, contextlib.suppress(KeyError):  # the library's copy may not hold it
            manager.delete(auth.cookie_name, key="auth_cookie_delete")


def _served_over_https() -> bool:
    """Mark the cookie Secure when the browser reached the app over HTTPS (e.g. via a proxy)."""
    try:
        return str(st.context.url or "").startswith("https://")
    except Exception:
        return False


# --- the form and its check --------------------------------------------------------------------


def _client_key() -> str:
    """The client's address as Streamlit sees it (``None`` on localhost: one shared key).

    Behind a reverse proxy this is the proxy; forwarded headers are not trusted because a
    client could set them to escape the per-client limit.
    """
    try:
        address = st.context.ip_address
    except Exception:
        return "unknown"
    return address if isinstance(address, str) and address else "local"


def _on_submit() -> None:
    """Form callback: runs before the script, so a success renders the page in this run."""
    username = str(st.session_state.get(USERNAME_KEY) or "")
    password = str(st.session_state.get(PASSWORD_KEY) or "")
    st.session_state[PASSWORD_KEY] = ""  # never keep a typed password in the session
    try:
        record, problem = attempt_login(username, password, _client_key())
    except LoginSetupError:
        return  # the gate shows the set-up problem on this run
    if record is None:
        st.session_state[_NOTICE] = ("error", problem)
        return
    _sign_in(record)
    _request_cookie("set")


def _show_notice() -> None:
    kind, text = st.session_state.get(_NOTICE) or (None, None)
    if kind == "error":
        st.error(text, icon=":material/error:")
    elif kind == "warning":
        st.warning(text)
    elif kind == "info":
        st.info(text)


def _login_form(users: dict[str, UserRecord]) -> None:
    """Only this, nothing of the page: a heading, one notice and the two fields."""
    dummy_hash(users)  # made now, so not even the first unknown name takes longer
    with st.container(horizontal_alignment="center"), st.container(width=420):
        st.header(f":material/lock: {APP_TITLE}", anchor=False)
        st.caption("Sign in to see the model optimization sessions.")
        _show_notice()
        generated = [u for u in users.values() if u.password_generated]
        if generated and len(users) == 1:
            st.info(
                f"First start: sign in as **{generated[0].username}** with the password printed "
                "in the terminal that started the dashboard.",
                icon=":material/key:",
            )
        with st.form("auth_login_form", border=True, enter_to_submit=True):
            st.text_input("Username", key=USERNAME_KEY, autocomplete="username")
            st.text_input("Password", type="password", key=PASSWORD_KEY, autocomplete="current-password")
            st.form_submit_button("Login", type="primary", on_click=_on_submit, width="stretch")


def _request_logout() -> None:
    st.session_state[_LOGOUT] = True


def require_login() -> User:
    """Show the login form and stop unless someone is signed in; then draw the app shell.

    Returns the signed-in user. Stops with a clear message when the login is mis-configured
    (plain-text password, missing or weak cookie key, unreadable credentials file).
    """
    try:
        settings = load_settings()
    except SettingsError as error:
        report_once(f"settings are not valid: {error}")
        st.error(f"**The dashboard is not configured correctly.**\n\n{error}", icon=":material/block:")
        st.stop()
        raise  # not reached: st.stop() ends the run
    try:
        auth, key, users = login_setup()
    except LoginSetupError as error:
        _stop_with_setup_error(str(error))
        raise  # not reached: st.stop() ends the run
    notice = None
    if st.session_state.pop(_LOGOUT, False):
        notice = ("info", "You have signed out.")
    elif _session_is_stale(users):
        notice = ("warning", "Your login was changed; please sign in again.")
    if notice:
        _forget_session()
    authenticator = _authenticator(auth, key, users)
    if notice:
        authenticator.authentication_controller.logout()  # library state: signed out
        st.session_state[_NOTICE] = notice
        _request_cookie("delete")
    _sync_cookie(authenticator, auth)
    user = _session_user(users) or _restore_from_cookie(authenticator, auth, users)
    if user is None:
        _login_form(users)
        st.stop()
    draw_shell(user, settings, on_logout=_request_logout)
    return user
