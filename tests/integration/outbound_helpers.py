"""Local HTTP(S) servers standing in for users' endpoints, and a resolver tests control."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Endpoint:
    """A threaded HTTP server on `address`:0 recording (method, path, Host) of each request.

    `/to?url` redirects (302) to `url`; anything else answers 200. `tls` wraps it in HTTPS.
    """

    def __init__(
        self, address: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.requests: list[tuple[str, str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append((self.command, self.path, self.headers.get("Host")))
                path, _, query = self.path.partition("?")
                self.send_response(302 if path == "/to" else 200)
                if path == "/to":
                    self.send_header("Location", query)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.httpd.block_on_close = False
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port: int = self.httpd.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{address}:{self.port}"

    def __enter__(self) -> Endpoint:
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Names:
    """A resolver answering from a table, counting the lookups of each name."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = table
        self.lookups: dict[str, int] = {}

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(0)
        self.lookups[host] = self.lookups.get(host, 0) + 1
        if host not in self.table:
            raise OSError(f"{host}: no such name")
        return self.table[host]


class Sink:
    """Collects a job's output per stream."""

    def __init__(self) -> None:
        self.data: dict[str, bytearray] = {s: bytearray() for s in ("stdout", "stderr", "system")}

    async def write(self, stream: str, data: bytes) -> None:
        self.data[stream] += data

    def text(self, stream: str) -> str:
        return self.data[stream].decode()
