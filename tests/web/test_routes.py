"""The dashboard's HTTP routes, collected in one place for ``server.py``."""

from __future__ import annotations

import importlib

import pytest
from starlette.routing import Route

from web.download import EXPORT_PATH
from web.routes import ROUTES_ENV, app_routes, routes_served


def test_every_features_routes_are_collected_under_the_base_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROUTES_ENV, "")  # undone after the test, whatever app_routes sets
    routes = app_routes("/dash/")
    assert [r.path for r in routes if isinstance(r, Route)] == [f"/dash{EXPORT_PATH}"]
    assert [r.path for r in app_routes() if isinstance(r, Route)] == [EXPORT_PATH]


def test_pages_can_tell_whether_the_routes_are_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROUTES_ENV, "")  # undone after the test, whatever app_routes sets
    assert not routes_served()  # `streamlit run app.py`
    app_routes()  # what server.py does
    assert routes_served()


def test_server_py_serves_the_app_with_those_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROUTES_ENV, "")
    import server

    importlib.reload(server)
    assert routes_served()
