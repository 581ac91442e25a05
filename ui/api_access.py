"""The "API access" section: signed-in engineers and admins make and revoke their API tokens.

The same functions as ``python -m core tokens`` (:mod:`core.auth.tokens`): a new token is shown
once, in a code block with Streamlit's copy button, and never again (the state store keeps its
hash). Engineers see and revoke their own tokens; admins see everyone's and may revoke any.
Managers, the read-only viewers, have no API access and do not see the section. Every
failure (state store unreachable, a refused label) is a sentence, never a traceback.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.auth.settings import AuthConfigError, load_auth_settings
from core.auth.tokens import (
    API_ROLES,
    MAX_LABEL_CHARS,
    TokenError,
    TokenInfo,
    create_token,
    current_users,
    list_tokens,
    revoke_token,
)
from core.auth.users import CredentialsError, User
from core.state.settings import StateConfigError, load_state_settings
from core.state.store import state_engine
from ui.shell import escape_markdown
from ui.timefmt import local_text, viewer_timezone
from web.api.app import DOCS_PATH, api_path
from web.routes import routes_served

SECTION_TITLE = "API access"
FORM_KEY = "api_token_form"
LABEL_KEY = "api_token_label"
EXPIRY_KEY = "api_token_expiry"
NOTICE_KEY = "api_token_notice"
NEW_TOKEN_KEY = "api_new_token"
EXPIRY_CHOICES: tuple[int | None, ...] = (30, 90, 365, None)
DEFAULT_EXPIRY = 90


def may_use_api(user: User) -> bool:
    return user.role in API_ROLES


def _expiry_text(days: int | None) -> str:
    return f"{days} days" if days else "never"


def _open_store() -> Engine | None:
    try:
        return state_engine(load_state_settings())
    except StateConfigError as error:
        st.error(f"The dashboard's state store (where API tokens live) is not set up correctly: {error}")
        return None
    except (SQLAlchemyError, OSError) as error:
        st.error(f"The dashboard's state store (where API tokens live) cannot be opened: {_reason(error)}")
        return None


def _reason(error: Exception) -> str:
    """The driver's own sentence, without the SQL and parameters SQLAlchemy adds to its message."""
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def _create(engine: Engine, user: User) -> None:
    """The form's callback: runs before the rerun, so the table below already lists the token."""
    label = st.session_state.get(LABEL_KEY, "")
    days = st.session_state.get(EXPIRY_KEY, DEFAULT_EXPIRY)
    try:
        credentials = load_auth_settings().credentials_file
        token_id, token = create_token(
            engine,
            user.username,
            label=label,
            expires_days=days,
            credentials_path=credentials,
            by=user.username,
        )
    except (TokenError, CredentialsError, AuthConfigError) as error:
        st.session_state[NOTICE_KEY] = ("error", f"No token was created: {error}")
        return
    except SQLAlchemyError as error:
        st.session_state[NOTICE_KEY] = (
            "error",
            f"No token was created: the state store failed ({_reason(error)}).",
        )
        return
    st.session_state[NEW_TOKEN_KEY] = (token_id, token)
    st.session_state[LABEL_KEY] = ""


def _revoke(engine: Engine, user: User, token_id: int) -> None:
    owner = None if user.role == "admin" else user.username
    try:
        info = revoke_token(engine, token_id, by=user.username, owner=owner)
    except (TokenError, SQLAlchemyError) as error:
        reason = _reason(error) if isinstance(error, SQLAlchemyError) else str(error)
        st.session_state[NOTICE_KEY] = ("error", f"Token {token_id} was not revoked: {reason}")
        return
    st.session_state[NOTICE_KEY] = ("success", f"Revoked token {info.id} of {info.username}.")


def _show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        kind, text = notice
        (st.error if kind == "error" else st.success)(text)


def _show_new_token() -> None:
    """The token just created, once: it is dropped from the session as it is drawn."""
    created = st.session_state.pop(NEW_TOKEN_KEY, None)
    if created is None:
        return
    token_id, token = created
    st.warning(
        f"Token {token_id} created. Copy it now (point at the box for its copy button): it is shown "
        "only this once and cannot be recovered; if it is lost, revoke it and create another.",
        icon=":material/key:",
    )
    st.code(token, language=None)


def _new_token_form(engine: Engine, user: User) -> None:
    with st.form(FORM_KEY, border=True):
        st.markdown("**New token**")
        left, right = st.columns([3, 1])
        left.text_input("Label", key=LABEL_KEY, max_chars=MAX_LABEL_CHARS, placeholder="e.g. CI nightly")
        right.selectbox(
            "Expires after",
            EXPIRY_CHOICES,
            index=EXPIRY_CHOICES.index(DEFAULT_EXPIRY),
            format_func=_expiry_text,
            key=EXPIRY_KEY,
        )
        st.form_submit_button("Create token", icon=":material/add:", on_click=_create, args=(engine, user))


def _state(info: TokenInfo, users: set[str] | None) -> str:
    state = info.state()
    if state == "active" and users is not None and info.username not in users:
        return "user removed"
    return state


def _token_rows(engine: Engine, user: User, tokens: list[TokenInfo]) -> None:
    admin = user.role == "admin"
    try:
        users: set[str] | None = set(current_users(load_auth_settings().credentials_file))
    except (CredentialsError, AuthConfigError):
        users = None
    zone = viewer_timezone()
    widths = [0.6, 2.2, 1.4, 1.8, 1.8, 1.8, 1.2, 1.2] if admin else [0.6, 2.2, 1.8, 1.8, 1.8, 1.2, 1.2]
    heads = ["ID", "Label", *(["User"] if admin else []), "Created", "Last used", "Expires", "State", ""]
    for column, head in zip(st.columns(widths), heads, strict=True):
        column.markdown(f"**{head}**" if head else "")
    for info in reversed(tokens):  # newest first
        state = _state(info, users)
        cells = [
            str(info.id),
            escape_markdown(info.label) if info.label else "-",
            *([escape_markdown(info.username)] if admin else []),
            local_text(info.created_at, zone),
            local_text(info.last_used_at, zone) if info.last_used_at else "never",
            local_text(info.expires_at, zone) if info.expires_at else "never",
            state,
        ]
        columns = st.columns(widths)
        for column, cell in zip(columns, cells, strict=False):
            column.markdown(cell)
        if state != "revoked":
            columns[-1].button(
                "Revoke",
                key=f"api_revoke_{info.id}",
                icon=":material/block:",
                on_click=_revoke,
                args=(engine, user, info.id),
            )


def render_api_access(user: User) -> None:
    """The section for engineers and admins; nothing at all for other roles."""
    if not may_use_api(user):
        return
    st.subheader(SECTION_TITLE, anchor="api-access")
    docs = ""
    if routes_served():
        docs = f" See the [API reference]({api_path(st.get_option('server.baseUrlPath')) + DOCS_PATH})."
    st.markdown(
        "Tokens let scripts, notebooks and CI jobs read the sessions over HTTP "
        "(`Authorization: Bearer <token>`), with your access." + docs
    )
    engine = _open_store()
    if engine is None:
        return
    _show_notice()
    _show_new_token()
    _new_token_form(engine, user)
    try:
        tokens = list_tokens(engine, username=None if user.role == "admin" else user.username)
    except SQLAlchemyError as error:
        st.error(f"The API tokens cannot be listed: the state store failed ({_reason(error)}).")
        return
    if not tokens:
        st.caption("No tokens yet.")
        return
    st.markdown("**All tokens**" if user.role == "admin" else "**Your tokens**")
    _token_rows(engine, user, tokens)
