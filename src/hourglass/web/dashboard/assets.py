"""The dashboard's static files, served from memory under a versioned path.

Read once when the app is built (never at import time). The version in every URL
(`/ui/static/<version>/js/app.js`) is a digest of all the files, so a changed file gets a new
URL: browsers may cache each one for a year without ever running a stale script. Each file is
also kept gzipped for clients that accept it. Third-party files live in `vendor/`, pinned, with
their licenses and SHA256SUMS (scripts/vendor-assets.sh writes them).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.responses import Response

from hourglass.errors import NotFound

MEDIA_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".LICENSE": "text/plain; charset=utf-8",
}
IMMUTABLE: Final = "public, max-age=31536000, immutable"
PREFIX: Final = "/ui/static"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str


class Assets:
    """Every servable file under `root`, by its path relative to it."""

    def __init__(self, root: Path) -> None:
        self.files: dict[str, Asset] = {}
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*")):
            media_type = MEDIA_TYPES.get(path.suffix)
            if not path.is_file() or media_type is None:
                continue
            name = path.relative_to(root).as_posix()
            body = path.read_bytes()
            digest.update(name.encode() + b"\0" + body + b"\0")
            self.files[name] = Asset(body, gzip.compress(body, 9, mtime=0), media_type)
        self.version = digest.hexdigest()[:12]

    def url(self, name: str) -> str:
        """The versioned URL of a file; a name that does not exist is a programming error."""
        if name not in self.files:
            raise KeyError(f"no dashboard asset {name!r}")
        return f"{PREFIX}/{self.version}/{name}"

    def response(self, version: str, name: str, accept_encoding: str) -> Response:
        asset = self.files.get(name)
        if asset is None or version != self.version:
            raise NotFound("no such file")
        headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
        if "gzip" in accept_encoding.lower():
            headers["Content-Encoding"] = "gzip"
            return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    def gzipped_bytes(self, *suffixes: str) -> int:
        """The total gzipped size of the files ending in any of `suffixes`."""
        return sum(len(a.gzipped) for n, a in self.files.items() if n.endswith(suffixes))
