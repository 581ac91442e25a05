"""The API's FastAPI app and where it is mounted: ``/optimization`` beside the pages.

:func:`api_routes` is what :func:`web.routes.app_routes` adds to ``st.App(routes=...)``: one
``Mount`` at ``<server.baseUrlPath>/optimization``. FastAPI learns the prefix from the mount
(the ASGI ``root_path``), so the OpenAPI document's server and the docs page's links follow
the base path without being told. The reference page is Swagger UI from the installed
``swagger_ui_bundle`` package, served by a StaticFiles mount: it works without internet access.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Mount
from swagger_ui_bundle import swagger_ui_path

from web.api import metrics, sessions
from web.api.errors import install_error_handlers

API_PREFIX = "/optimization"
DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"
ASSETS_PATH = "/docs-assets"
DESCRIPTION = (
    "The original `GET /optimization/sessions` endpoint and its friends, over the dashboard's own "
    "queries. Every request needs `Authorization: Bearer <token>` (create one with "
    '`python -m core tokens create --user NAME`). Errors are JSON `{"detail": ...}` naming the '
    "parameter, the value and what is allowed."
)


def create_app() -> FastAPI:
    """A new API app (the server makes one; tests may make their own)."""
    app = FastAPI(
        title="Optimization sessions API",
        version="1",
        description=DESCRIPTION,
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
    )
    # The reference page's Swagger UI (the installed swagger-ui-bundle, 4.x) reads OpenAPI 3.0
    # documents only ("unable to render this definition" for 3.1).
    app.openapi_version = "3.0.3"
    install_error_handlers(app)
    app.include_router(sessions.router)
    app.include_router(metrics.router)
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_PATH,
            title="Optimization sessions API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
        )

    return app


def api_path(base_path: str = "") -> str:
    """``/optimization`` under ``server.baseUrlPath`` (``dash`` -> ``/dash/optimization``)."""
    prefix = "/" + base_path.strip("/") if base_path.strip("/") else ""
    return prefix + API_PREFIX


def api_routes(base_path: str = "") -> list[BaseRoute]:
    """The routes to hand to ``st.App(routes=...)``: the API app mounted under the base path."""
    return [Mount(api_path(base_path), app=create_app())]
