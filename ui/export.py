"""Download controls: every match as CSV (a streamed link), the current page as the endpoint's JSON.

The CSV covers all matches (not only the page on screen), in the table's sort order, with the
formula-neutralised cells of :mod:`core.export.cells`; it is byte-for-byte what
``python -m core sessions --format csv`` prints for the same filters.

Memory: ``st.download_button`` would turn the file into one ``bytes`` object held by
Streamlit. So "Download CSV" is a link to the dashboard's own route (``web/download.py``,
mounted by ``server.py`` through ``web/routes.py``), which streams the rows from the
database in batches. That route runs outside this Streamlit session, so the link carries a
token signed for the signed-in user and exactly this filter, valid for
:data:`~core.export.links.LINK_LIFETIME_S` (:mod:`core.export.links`). The button sits in a
small fragment that re-signs the link every :data:`LINK_REFRESH_S`, so a page left open for
an hour still offers a link that works.

Started with plain ``streamlit run app.py`` the route does not exist and a link would open a
blank tab. Then an export of at most :data:`IN_PAGE_MAX_ROWS` rows is offered as an ordinary
``st.download_button`` (the same bytes, made only when clicked), and a larger one says how to
start the dashboard so that the streamed download works.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from core.auth.settings import AuthConfigError, load_auth_settings, validate_cookie_key
from core.config import Settings
from core.export.links import TOKEN_PARAM, canonical_query, derive_key, make_token
from core.export.names import export_filename
from core.export.stream import iter_filtered_csv
from core.query.filter import SessionFilter
from core.query.rows import Page
from ui.auth import signed_in_fingerprint
from ui.data import connect
from ui.view import ViewState
from web.download import EXPORT_PATH
from web.routes import START_COMMAND, routes_served

JSON_MIME = "application/json"
LINK_REFRESH_S = 5 * 60  # well inside the link's lifetime
IN_PAGE_MAX_ROWS = 20_000  # held in memory once, on click, when the streaming route is missing
CSV_MIME = "text/csv"


def csv_link(
    username: str,
    credential: str,
    session_filter: SessionFilter,
    cookie_key: str,
    base_path: str = "",
    *,
    now: float | None = None,
) -> str:
    """The route's URL for every match of ``session_filter``, signed for ``username`` while
    their password fingerprint is ``credential``."""
    query = canonical_query(session_filter)
    token = make_token(derive_key(cookie_key), username, query, credential=credential, now=now)
    prefix = "/" + base_path.strip("/") if base_path.strip("/") else ""
    return f"{prefix}{EXPORT_PATH}?{query + '&' if query else ''}{TOKEN_PARAM}={token}"


def _csv_button(session_filter: SessionFilter, total: int) -> None:
    """ "Download CSV": a link signed now for the signed-in user (re-signed periodically)."""
    username = st.session_state.get("username")
    credential = signed_in_fingerprint()
    url = ""
    if isinstance(username, str) and username and credential:
        try:
            key = validate_cookie_key(load_auth_settings())
        except AuthConfigError:
            key = ""  # the login gate reports it; no link without a valid key
        if key:
            url = csv_link(
                username, credential, session_filter, key, str(st.get_option("server.baseUrlPath") or "")
            )
    st.link_button(
        "Download CSV",
        url or EXPORT_PATH,
        disabled=not url,
        icon=":material/download:",
        key="sessions_download_csv",
        help=f"All {total:,} matching sessions in the table's order, not just this page.",
    )


def no_route_help(total: int) -> str:
    """What the CSV button says when the dashboard was started without its routes."""
    start = f"start the dashboard with `{START_COMMAND}` (or `streamlit run server.py`)"
    if total <= IN_PAGE_MAX_ROWS:
        return f"All {total:,} matching sessions in the table's order. For exports of any size, {start}."
    return (
        f"{total:,} matching sessions are more than the {IN_PAGE_MAX_ROWS:,} this page can export "
        f"when opened with `streamlit run app.py`; {start} to download them all."
    )


def all_matches_csv(settings: Settings, session_filter: SessionFilter) -> bytes:
    """Every match as the route would send it (the CLI's CSV), for the in-page fallback."""
    with connect(settings) as connection:
        return "".join(iter_filtered_csv(connection, session_filter)).encode("utf-8")


def _csv_in_page(settings: Settings, session_filter: SessionFilter, total: int, today: Any) -> None:
    """ "Download CSV" without the route: in the page when small, else disabled with the way out."""
    small = total <= IN_PAGE_MAX_ROWS
    st.download_button(
        "Download CSV",
        data=lambda: all_matches_csv(settings, session_filter) if small else b"",
        file_name=export_filename(session_filter, today),
        mime=CSV_MIME,
        key="sessions_download_csv",
        on_click="ignore",
        icon=":material/download:",
        disabled=not small,
        help=no_route_help(total),
    )


def page_json(page: Page) -> str:
    """The current page in the original response shape ``{sessions, total, skip, limit}``."""
    return json.dumps(page.to_response(), indent=2, ensure_ascii=False) + "\n"


def json_filename(session_filter: SessionFilter, today: Any) -> str:
    name = export_filename(session_filter, today, "json")
    return name[: -len(".json")] + f"_page-{session_filter.page_number}.json"


def render_downloads(settings: Settings, view: ViewState, page: Page, csv_slot: Any, json_slot: Any) -> None:
    """ "Download CSV" (all matches) and "Download JSON" (this page) in the given columns."""
    today = datetime.now(UTC).date()
    f = view.filter
    with csv_slot.container(width="content"):  # the fragment's box would stretch otherwise
        if routes_served():
            st.fragment(_csv_button, run_every=LINK_REFRESH_S)(f.without_paging(), page.total)
        else:
            _csv_in_page(settings, f.without_paging(), page.total, today)
    json_slot.download_button(
        "Download JSON",
        data=lambda: page_json(page),
        file_name=json_filename(f, today),
        mime=JSON_MIME,
        key="sessions_download_json",
        on_click="ignore",
        icon=":material/download:",
        help="This page in the API's shape {sessions, total, skip, limit}.",
    )
