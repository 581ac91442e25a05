"""The sidebar links to the API's reference page when the server serves the API, and only then."""

from __future__ import annotations

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest


def _navigation(served: bool) -> None:
    import os

    import streamlit as st

    import ui.shell
    from web.routes import ROUTES_ENV

    os.environ[ROUTES_ENV] = "1" if served else ""
    ui.shell.discover_pages = lambda: []  # type: ignore[assignment,misc]  # page_link needs a real app
    ui.shell.draw_navigation()
    st.caption("drawn")


@pytest.mark.parametrize(
    ("served", "base", "link"),
    [(True, "", "(/optimization/docs)"), (True, "dash", "(/dash/optimization/docs)"), (False, "", None)],
)
def test_the_sidebar_links_to_the_api_docs_under_the_base_path(
    served: bool, base: str, link: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_HTTP_ROUTES", "")
    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", base)  # as --server.baseUrlPath sets it
    try:
        at = AppTest.from_function(_navigation, args=(served,)).run()
    finally:
        config.set_option("server.baseUrlPath", before)
    assert not at.exception
    assert [c.value for c in at.caption] == ["drawn"]  # the navigation was drawn to its end
    text = "\n".join(m.value for m in at.sidebar.markdown)
    if link is None:
        assert "optimization/docs" not in text
    else:
        assert "HTTP API" in text and link in text
