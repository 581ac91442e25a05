"""Download buttons: every match as CSV, the current page as the endpoint's JSON.

The CSV covers all matches (not only the page on screen), in the table's sort order, with the
formula-neutralised cells of :mod:`core.export`; it is byte-for-byte what
``python -m core sessions --format csv`` prints for the same filters.

Memory: Streamlit 1.67 has no streaming download. ``st.download_button`` with a callable
defers the work to the click (nothing is built while people just browse), but whatever the
callable returns is turned into one ``bytes`` object held in the media file store until the
session drops the reference. So the rows are streamed from the database in batches and written
chunk by chunk to a temporary file; the only full copy in memory is that final ``bytes`` (about
130 bytes a row, ~130 MB at a million rows). Building it in memory first (chunks joined into a
``str`` then encoded) would hold two to three copies at the peak.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from core.config import Settings
from core.export import export_filename, iter_filtered_csv
from core.filters import SessionFilter
from core.query import Page
from ui.data import get_engine
from ui.view import ViewState

CSV_MIME = "text/csv"
JSON_MIME = "application/json"


def write_csv(engine: Engine, session_filter: SessionFilter) -> bytes:
    """Every match as CSV bytes, streamed through a temporary file (one copy in memory)."""
    with tempfile.TemporaryFile() as spool:
        with engine.connect() as connection:
            for chunk in iter_filtered_csv(connection, session_filter):
                spool.write(chunk.encode("utf-8"))
        spool.seek(0)
        return spool.read()


def csv_generator(engine: Engine, session_filter: SessionFilter) -> Callable[[], bytes]:
    """The callable handed to ``st.download_button``: runs on click, on its own thread."""
    return lambda: write_csv(engine, session_filter)


def page_json(page: Page) -> str:
    """The current page in the original response shape ``{sessions, total, skip, limit}``."""
    return json.dumps(page.to_response(), indent=2, ensure_ascii=False) + "\n"


def json_filename(session_filter: SessionFilter, today: Any) -> str:
    name = export_filename(session_filter, today, "json")
    return name[: -len(".json")] + f"_page-{session_filter.page_number}.json"


def render_downloads(settings: Settings, view: ViewState, page: Page, csv_slot: Any,
                     json_slot: Any) -> None:
    """"Download CSV" (all matches) and "Download JSON" (this page) in the given columns."""
    today = datetime.now(UTC).date()
    engine = get_engine(settings)
    f = view.filter
    csv_slot.download_button(
        "Download CSV", data=csv_generator(engine, f.without_paging()),
        file_name=export_filename(f, today), mime=CSV_MIME, key="sessions_download_csv",
        on_click="ignore", icon=":material/download:",
        help=f"All {page.total:,} matching sessions in the table's order, "
             "not just this page.",
    )
    json_slot.download_button(
        "Download JSON", data=lambda: page_json(page), file_name=json_filename(f, today),
        mime=JSON_MIME, key="sessions_download_json", on_click="ignore", icon=":material/download:",
        help="This page in the API's shape {sessions, total, skip, limit}.",
    )
