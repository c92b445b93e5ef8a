"""The one error → HTTP table, and problem+json (RFC 9457) rendering.

Routes and services raise `HourglassError` subclasses; this module alone decides the status code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from hourglass import errors

PROBLEM = "application/problem+json"

# the first matching class (in MRO order of the raised error) decides the status
STATUS: dict[type[errors.HourglassError], int] = {
    errors.BadRequest: 400,
    errors.ValidationError: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.PayloadTooLarge: 413,
    errors.RateLimited: 429,
    errors.StoreUnavailable: 503,
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def status_for(exc: errors.HourglassError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def problem_body(status: int, detail: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if extra:
        body.update(extra)
    return body


def problem(
    status: int,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        content=json.dumps(problem_body(status, detail, extra)),
        status_code=status,
        media_type=PROBLEM,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def error_response(exc: errors.HourglassError) -> Response:
    status = status_for(exc)
    extra: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    if isinstance(exc, errors.ValidationError):
        extra = {"errors": [{"field": e.field, "message": e.message} for e in exc.errors]}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="hourglass"'
    return problem(status, exc.message, extra=extra, headers=headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_error(details: Sequence[Mapping[str, Any]]) -> errors.ValidationError:
    """Pydantic's (or FastAPI's) list of errors as our `ValidationError`, one field each."""
    found = [
        errors.FieldError(
            _field_name(d.get("loc", ())),
            "is required" if d.get("type") == "missing" else str(d.get("msg", "is invalid")),
        )
        for d in details
    ]
    return errors.ValidationError(found or errors.FieldError("body", "is invalid"))


def malformed_json(why: str = "malformed JSON") -> errors.ValidationError:
    """The one answer to a body that is not JSON (or not JSON we can read)."""
    return errors.ValidationError(errors.FieldError("body", why), "request body is not valid JSON")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of `path`: those of the routes whose template matches it most closely.

    Starlette names only the first route's, and a path has one route per method. Where a
    literal segment and a parameter both match (`…/jobs/schedule` and `…/jobs/{job_id}`), the
    literal one is the path's: the other only answers 404 there.
    """
    # FastAPI >= 0.16x keeps included routers whole in `app.routes`; older ones flatten them
    contexts = getattr(routing, "iter_route_contexts", None)
    by_template: dict[str, set[str]] = {}
    for route in contexts(app.routes) if contexts else app.routes:
        methods = getattr(route, "methods", None)
        pattern = getattr(route, "path_regex", None)
        if methods and pattern is not None and pattern.match(path):
            template = getattr(route, "path_format", "") or ""
            by_template.setdefault(template, set()).update(methods)
    if not by_template:
        return []
    closest = min(template.count("{") for template in by_template)
    found = set().union(*(m for t, m in by_template.items() if t.count("{") == closest))
    return sorted(found)


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into problem+json.

    Unexpected exceptions are not handled here: `RequestContextMiddleware` answers them, so a
    500 carries the request id like every other response.
    """

    async def on_hourglass(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.HourglassError)
        return error_response(exc)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        # only parameters FastAPI types itself get here (bodies are parsed by `deps.JsonBody`)
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_error(exc.errors()))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route of the path; a path has one route per method
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return problem(exc.status_code, str(exc.detail), headers=headers)

    app.add_exception_handler(errors.HourglassError, on_hourglass)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
