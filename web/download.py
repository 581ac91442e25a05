"""``GET /export/sessions.csv``: every session matching a filter, streamed from the database.

Served by the same process as the pages (``server.py`` mounts it with ``st.App``, through
:func:`web.routes.app_routes`), outside any Streamlit session, so it authenticates the request
itself: the Sessions page links here with a short-lived ``token`` signed for the signed-in
user and the filter on screen (:mod:`core.export.links`). The route answers

* 400 with a plain-text message naming the parameter when the filter in the link is not valid,
* 403 when the token is missing, changed, made for other filters or expired, or its user no
  longer exists in the credentials file,
* 503 when the login or the database is not usable (the database named, password masked),
* otherwise 200, ``text/csv; charset=utf-8``, ``Content-Disposition: attachment`` with the
  page's file name, and the body of ``python -m core sessions --format csv`` for that filter.

Memory: the rows are read from the database in batches (server-side cursor) and each CSV
chunk (a couple of thousand rows) is sent before the next one is made, on a worker thread;
the event loop only passes bytes along, and the ASGI server's flow control makes a slow
client slow the export down instead of piling chunks up. Nothing holds the whole file.

No Streamlit runtime is used here (no ``st.*`` calls, no caches tied to script runs).
"""

from __future__ import annotations

import sys

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from core.auth.credentials import load_credentials
from core.auth.settings import AuthConfigError, load_auth_settings, validate_cookie_key
from core.auth.users import CredentialsError, password_fingerprint
from core.config import Settings, SettingsError, load_settings
from core.export.links import TOKEN_PARAM, LinkError, canonical_query, check_token, derive_key
from core.query.filter import FILTER_PARAMS, VIEW_PARAMS, FilterError, SessionFilter
from core.speed import dispose_layers, speed_layer
from core.store.engine import DatabaseMissingError
from web.csv_body import csv_attachment, open_csv, query_lists

EXPORT_PATH = "/export/sessions.csv"
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _text(status: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(message.rstrip() + "\n", status_code=status, headers=_NO_STORE)


def _log(message: str) -> None:
    print(f"[dashboard] CSV download: {message}", file=sys.stderr, flush=True)


def engine_for(settings: Settings) -> Engine:
    """The engine that answers for ``settings``: the speed layer's copy when it is current.

    The process has one speed layer per database (:func:`core.speed.speed_layer`), so this is
    the very reader the pages use (``ui.data.get_engine``): one pool, one copy, one sync thread.
    """
    return speed_layer(settings).reader()


def dispose_engines() -> None:
    """Close the pools and stop the sync threads (tests; a server shutting down)."""
    dispose_layers()


def parse_filter(params: dict[str, list[str]]) -> SessionFilter:
    """The export's filter (paging dropped) from the link's parameters; FilterError if bad."""
    unknown = sorted(set(params) - set(FILTER_PARAMS) - set(VIEW_PARAMS))
    if unknown:
        raise FilterError(
            unknown[0], ", ".join(params[unknown[0]]), f"the parameters are {', '.join(FILTER_PARAMS)}"
        )
    return SessionFilter.from_params({k: v for k, v in params.items() if k in FILTER_PARAMS}).without_paging()


async def sessions_csv(request: Request) -> Response:
    params = query_lists(request)
    tokens = params.pop(TOKEN_PARAM, None)
    token = tokens[-1] if tokens else None
    try:
        f = parse_filter(params)
    except FilterError as error:
        return _text(400, f"Bad parameter `{error.field}`: {error.value!r} is not allowed; {error.allowed}.")
    try:
        auth = load_auth_settings()
        key = derive_key(validate_cookie_key(auth))
    except AuthConfigError as error:
        _log(f"the login is not set up: {error}")
        return _text(503, "The dashboard's login is not set up correctly; ask its operator.")
    try:
        users = await run_in_threadpool(load_credentials, auth.credentials_file)
    except CredentialsError as error:
        _log(f"cannot read the credentials: {error}")
        return _text(503, "The dashboard's login is not set up correctly; ask its operator.")
    try:
        check_token(
            key,
            token,
            canonical_query(f),
            credential_of=lambda name: password_fingerprint(users[name]) if name in users else None,
        )
    except LinkError as error:
        return _text(403, str(error))
    try:
        settings = load_settings()
    except SettingsError as error:
        return _text(503, f"The dashboard is not configured correctly: {error}")
    try:
        first, chunks = await open_csv(await run_in_threadpool(engine_for, settings), f)
    except (SQLAlchemyError, DatabaseMissingError, OSError) as error:
        _log(f"failed on {settings.masked_db_url}: {error!r}")
        reason = (
            str(error)
            if isinstance(error, DatabaseMissingError)
            else type(getattr(error, "orig", None) or error).__name__
        )
        return _text(
            503, f"The database {settings.masked_db_url} could not be read ({reason}); try again in a moment."
        )
    return csv_attachment(f, first, chunks, _NO_STORE, _log)


def export_routes(base_path: str = "") -> list[Route]:
    """The routes to hand to ``st.App(routes=...)``, under ``server.baseUrlPath`` if one is set."""
    prefix = "/" + base_path.strip("/") if base_path.strip("/") else ""
    return [Route(prefix + EXPORT_PATH, sessions_csv, methods=["GET"])]
