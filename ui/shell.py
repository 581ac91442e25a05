"""The app's frame around every page: page config, navigation links and the sidebar footer.

Streamlit's own sidebar page list is switched off (``client.showSidebarNavigation = false``):
it would list the pages to visitors who have not signed in. The links here are drawn by the
login gate only after sign-in. Pages are found by listing ``pages/``, so a page added later
gets its link without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.auth.users import User
from core.config import PROJECT_ROOT, Settings
from web.api.app import DOCS_PATH, api_path
from web.routes import routes_served

APP_TITLE = "Optimization sessions"
HOME_SCRIPT = "app.py"
PAGES_DIR = PROJECT_ROOT / "pages"
FOOTER_KEY = "app_sidebar_footer"
# Material icons ship with Streamlit's frontend; emoji depend on the viewer's system fonts
# (headless and kiosk Linux often has none and shows empty boxes).
PAGE_ICONS = {
    "Home": ":material/home:",
    "Sessions": ":material/table_rows:",
    "Overview": ":material/insights:",
    "Compare": ":material/compare_arrows:",
}
DEFAULT_PAGE_ICON = ":material/article:"
FAVICON = "📈"  # drawn by the browser tab from the emoji itself, nothing is fetched


@dataclass(frozen=True)
class PageEntry:
    """One navigation link: the script path relative to ``app.py`` and its label."""

    script: str
    label: str
    icon: str


def page_setup(title: str, icon: str | None = None) -> None:
    """Browser tab title, favicon and the wide layout every dashboard page uses.

    Call it first in a page script; it draws nothing, so it is safe before the login gate.
    """
    st.set_page_config(
        page_title=f"{title} · {APP_TITLE}",
        page_icon=icon or FAVICON,
        layout="wide",
        initial_sidebar_state="expanded",
    )


def _label(stem: str) -> str:
    """``2_Overview`` -> ``Overview``, the way Streamlit names classic pages."""
    return re.sub(r"^\d+[_\- ]*", "", stem).replace("_", " ").strip() or stem


def _sort_key(path: Path) -> tuple[float, str]:
    match = re.match(r"^(\d+)", path.stem)
    return (float(match.group(1)) if match else float("inf"), path.stem.lower())


def discover_pages(pages_dir: Path = PAGES_DIR) -> list[PageEntry]:
    """Home plus every script in ``pages/`` in Streamlit's order (numeric prefix, then name)."""
    entries = [PageEntry(HOME_SCRIPT, "Home", PAGE_ICONS["Home"])]
    scripts = [p for p in pages_dir.glob("*.py") if not p.name.startswith((".", "_"))]
    for path in sorted(scripts, key=_sort_key):
        label = _label(path.stem)
        entries.append(
            PageEntry(f"{pages_dir.name}/{path.name}", label, PAGE_ICONS.get(label, DEFAULT_PAGE_ICON))
        )
    return entries


def draw_navigation() -> None:
    """The page links at the top of the sidebar."""
    with st.sidebar:
        st.markdown(f"### {APP_TITLE}")
        for entry in discover_pages():
            st.page_link(entry.script, label=entry.label, icon=entry.icon)
        if routes_served():  # the API's reference page (served beside the pages by server.py)
            docs = api_path(st.get_option("server.baseUrlPath")) + DOCS_PATH
            st.markdown(f"[:material/api: HTTP API]({docs})")


def escape_markdown(text: str) -> str:
    """Show names as typed: user-controlled text must not become links or formatting."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$])", r"\\\1", text)


def draw_sidebar_footer(user: User, settings: Settings, on_logout: Callable[[], None]) -> None:
    """Who is signed in (and as what), a logout button and which database is shown.

    The footer is a keyed container pushed to the bottom of the sidebar with CSS ``order``,
    so filters a page adds to the sidebar after the gate still appear above it.
    """
    # The keyed container sits in a wrapper div, which is the flex item to reorder.
    # Also: Streamlit's default top padding leaves a band of blank screen above every title.
    st.html(
        f"<style>div:has(> .st-key-{FOOTER_KEY}) {{ order: 1000; }}"
        " [data-testid='stMainBlockContainer'] { padding-top: 2.5rem; }</style>"
    )
    with st.sidebar, st.container(key=FOOTER_KEY):
        st.divider()
        st.markdown(f":material/person: **{escape_markdown(user.name)}** · {user.role}")
        st.caption("Database")
        st.code(settings.masked_db_url, language=None, wrap_lines=True)
        if settings.is_default_database:
            st.badge("Demo database", icon=":material/science:", color="orange")
        st.button(
            "Log out",
            key="auth_logout_button",
            icon=":material/logout:",
            on_click=on_logout,
            width="stretch",
        )


def draw_shell(user: User, settings: Settings, on_logout: Callable[[], None]) -> None:
    draw_navigation()
    draw_sidebar_footer(user, settings, on_logout)
