"""The API and its docs under ``server.baseUrlPath``, and the docs page offline (SQLite server)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.web.api.conftest import ApiServer, start_server, stop, wait_healthy


@pytest.fixture(scope="module")
def dashed(server: ApiServer) -> Iterator[str]:
    if server.backend != "sqlite":
        pytest.skip("the base path does not depend on the database; checked once, on SQLite")
    process, port = start_server(server.env, "--server.baseUrlPath", "dash")
    base = f"http://127.0.0.1:{port}/dash"
    try:
        wait_healthy(process, f"{base}/_stcore/health")
        yield base
    finally:
        stop(process)


def test_the_api_answers_under_the_base_path_and_not_beside_it(
    server: ApiServer, dashed: str, ada_token: str
) -> None:
    headers = {"Authorization": f"Bearer {ada_token}"}
    reply = httpx.get(f"{dashed}/optimization/sessions", params={"limit": 3}, headers=headers, timeout=30)
    assert reply.status_code == 200
    assert len(reply.json()["sessions"]) == 3
    outside = httpx.get(dashed.removesuffix("/dash") + "/optimization/sessions", headers=headers, timeout=30)
    assert outside.status_code != 200 or "sessions" not in outside.text


def test_the_docs_follow_the_base_path(dashed: str) -> None:
    page = httpx.get(f"{dashed}/optimization/docs", timeout=30)
    assert page.status_code == 200
    assert "/dash/optimization/openapi.json" in page.text
    assert "/dash/optimization/docs-assets/swagger-ui-bundle.js" in page.text
    document = httpx.get(f"{dashed}/optimization/openapi.json", timeout=30).json()
    assert document["servers"] == [{"url": "/dash/optimization"}]


def test_the_docs_page_and_its_assets_load_without_internet(server: ApiServer) -> None:
    page = httpx.get(f"{server.api}/docs", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "cdn" not in page.text.lower() and "https://" not in page.text.split("<body>")[0]
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css")):
        assert f"/optimization/docs-assets/{asset}" in page.text
        reply = httpx.get(f"{server.api}/docs-assets/{asset}", timeout=30)
        assert reply.status_code == 200 and kind in reply.headers["content-type"]
        assert len(reply.content) > 10_000


def test_the_openapi_document_lists_every_endpoint_and_parameter(server: ApiServer) -> None:
    document = httpx.get(f"{server.api}/openapi.json", timeout=30).json()
    paths = document["paths"]
    assert {"/sessions", "/sessions.csv", "/sessions/{session_id}", "/metrics"} <= set(paths)
    names = {p["name"] for p in paths["/sessions"]["get"]["parameters"]}
    expected = {"status", "model_id", "start_date", "end_date", "q", "technique", "sort", "order"}
    assert names == expected | {"skip", "limit"}
    assert {"401", "403", "400", "422"} <= set(paths["/sessions"]["get"]["responses"])
