"""`/docs`: Swagger UI served from the package, so the API's docs work offline and fetch
nothing from a CDN or any other site.

The files are a pinned copy of the `swagger-ui-dist` npm package, with its licence
(`static/swagger-ui/`, refreshed by `scripts/vendor-swagger-ui.sh`). They are served under a
path holding their version, so a browser may keep them for a year.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from hourglass.errors import NotFound

ASSETS = Path(__file__).parent / "static" / "swagger-ui"
MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_IMMUTABLE = {"Cache-Control": "max-age=31536000, immutable"}


def install(app: FastAPI, *, openapi_url: str) -> None:
    """Serve `/docs` and its assets (the app must be built with `docs_url=None`)."""
    version = (ASSETS / "VERSION").read_text().strip()
    base = f"/docs/assets/{version}"
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{base}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}/swagger-ui.css",
            swagger_favicon_url=f"{base}/favicon-32x32.png",
            # no badge from validator.swagger.io: it would send our spec's URL to a third party
            swagger_ui_parameters={"validatorUrl": None, "deepLinking": True},
        )

    @router.get("/docs/assets/{asset_version}/{name}")
    async def asset(asset_version: str, name: str) -> FileResponse:
        if asset_version != version or name not in MEDIA_TYPES:
            raise NotFound("no such file")
        return FileResponse(ASSETS / name, media_type=MEDIA_TYPES[name], headers=_IMMUTABLE)

    app.include_router(router)
