"""CORS for a dashboard or tool served from another origin (`HOURGLASS_CORS_ORIGINS`).

Starlette's middleware with exact origins only (no wildcard: credentials are allowed, so the
session cookie travels), the headers our API reads and answers, and two changes of ours: a
preflight that passes is 204 with no body, and one that fails is 400 problem+json naming
what was refused. With no origin configured the middleware is not installed at all.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from hourglass.web.errors import problem

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# request headers a cross-origin client may send (beyond the CORS-safelisted ones)
ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "Last-Event-ID",
    "Range",
    "X-CSRF-Token",
    "X-Request-ID",
)
# response headers its scripts may read
EXPOSE_HEADERS = (
    "Accept-Ranges",
    "Content-Disposition",
    "Content-Range",
    "ETag",
    "Idempotent-Replayed",
    "Last-Modified",
    "Retry-After",
    "WWW-Authenticate",
    "X-Request-ID",
)
PREFLIGHT_MAX_AGE = 600


class _Cors(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        headers = {
            k: v for k, v in answer.headers.items() if k not in ("content-length", "content-type")
        }
        if answer.status_code == 200:
            return Response(status_code=204, headers=headers)
        detail = bytes(answer.body).decode().replace("Disallowed CORS", "CORS refused this")
        return problem(400, detail, headers=headers)


def install(app: FastAPI, origins: tuple[str, ...]) -> None:
    """Answer cross-origin requests from exactly `origins` (nothing when it is empty)."""
    if not origins:
        return
    app.add_middleware(
        _Cors,
        allow_origins=list(origins),
        allow_methods=METHODS,
        allow_headers=ALLOW_HEADERS,
        allow_credentials=True,
        expose_headers=EXPOSE_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )
