"""`/docs` works offline: Swagger UI comes from the package, every asset from our own origin."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest

from hourglass.web.docs import ASSETS

ONE_ENGINE = pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)


class References(HTMLParser):
    """Every `src` and `href` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture
async def anon(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        yield client


async def page_references(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = References()
    parser.feed(response.text)
    return parser.found


@ONE_ENGINE
async def test_docs_reference_only_same_origin_assets(anon: httpx.AsyncClient) -> None:
    """The page names no other host: no CDN, no favicon from elsewhere."""
    found = await page_references(anon)
    assert len(found) == 3  # script, stylesheet, icon
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in found), found
    page = (await anon.get("/docs")).text
    assert "http:" not in page
    assert "https:" not in page


@ONE_ENGINE
async def test_each_docs_asset_is_served_from_the_package(anon: httpx.AsyncClient) -> None:
    """Every referenced file is 200, cacheable, and byte for byte the vendored copy."""
    sums = dict(reversed(line.split()) for line in (ASSETS / "SHA256SUMS").read_text().splitlines())
    for ref in await page_references(anon):
        response = await anon.get(ref)
        assert response.status_code == 200, ref
        assert "immutable" in response.headers["cache-control"]
        name = ref.rsplit("/", 1)[1]
        assert hashlib.sha256(response.content).hexdigest() == sums[name], name


@ONE_ENGINE
async def test_the_validator_badge_is_off(anon: httpx.AsyncClient) -> None:
    """Swagger UI is told not to send the spec's URL to validator.swagger.io."""
    assert '"validatorUrl": null' in (await anon.get("/docs")).text


@ONE_ENGINE
async def test_unknown_assets_are_404(anon: httpx.AsyncClient) -> None:
    """Only the vendored files of the current version are served; nothing else is reachable."""
    version = (ASSETS / "VERSION").read_text().strip()
    for path in (
        f"/docs/assets/{version}/LICENSE",
        f"/docs/assets/{version}/..%2F..%2Fdocs.py",
        "/docs/assets/0.0.1/swagger-ui.css",
    ):
        assert (await anon.get(path)).status_code == 404, path


def test_the_vendored_copy_keeps_its_licence() -> None:
    """Swagger UI's Apache-2.0 licence and notice ship with it."""
    assert "Apache License" in (ASSETS / "LICENSE").read_text()
    assert "SmartBear" in (ASSETS / "NOTICE").read_text()
