"""Times as the viewer reads them: in their browser's time zone, with the zone named.

The database stores UTC. Streamlit tells the server the browser's IANA zone
(``st.context.timezone``); without one (a test, an old browser) times are shown in UTC and
labelled so. A relative or unlabelled time is a known complaint about peer tools.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st


def viewer_timezone() -> str:
    """The browser's IANA time zone name, or ``UTC`` when unknown or not a real zone."""
    try:
        name = st.context.timezone
    except Exception:  # outside a browser session
        name = None
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def local_text(value: datetime | None, zone: str, *, seconds: bool = False) -> str:
    """``2026-11-25 14:03 CET`` in ``zone``; an em dash for no value."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def duration_text(seconds: float | None) -> str:
    """``2 h 05 min``, ``14 min``, ``45 s``; empty for unfinished sessions."""
    if seconds is None:
        return ""
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
