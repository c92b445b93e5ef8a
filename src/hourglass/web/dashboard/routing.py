"""How every dashboard route answers: security headers on all of it, and errors as pages.

`DashboardRoute` wraps each handler — its dependencies included — so an error raised anywhere
becomes what a person should see: no session → the sign-in page (remembering where they were
going); not found or not theirs → the dashboard's 404 page; any other refusal → an error page,
or, for an htmx request, a toast with the API's message (and no swap). The status code still
comes from the one table in `web/errors.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.datastructures import ImmutableMultiDict
from starlette.responses import RedirectResponse, Response

from hourglass.errors import HourglassError, Unauthorized, ValidationError
from hourglass.web.dashboard.core import add_toast, dashboard_of, is_htmx
from hourglass.web.errors import status_for

# no inline script or style anywhere: htmx's indicator styles are configured off (base.html)
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
FORM_TYPE: Final = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS: Final = 2000
HOME: Final = "/ui/workflows"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class DashboardRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except HourglassError as exc:
                response = error_response(request, exc)
            response.headers.update(SECURITY_HEADERS)
            return response

        return handle


def dashboard_router() -> APIRouter:
    """A router whose routes answer like dashboard pages and stay out of the API's schema."""
    return APIRouter(route_class=DashboardRoute, include_in_schema=False)


def error_response(request: Request, exc: HourglassError) -> Response:
    status = status_for(exc)
    if isinstance(exc, Unauthorized):
        target = login_url(_current_path(request))
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    if is_htmx(request):
        response = Response(exc.message, status_code=status, media_type="text/plain")
        response.headers["HX-Reswap"] = "none"
        add_toast(response, exc.message, "error")
        return response
    context = {"status": status, "message": exc.message}
    return dashboard_of(request).render(request, "error.html", context, status=status)


def _current_path(request: Request) -> str:
    """The page the person is on: for htmx, the page that sent the request."""
    if is_htmx(request):
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        return current.path + (f"?{current.query}" if current.query else "")
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def login_url(next_path: str) -> str:
    return f"/ui/login?next={quote(next_path, safe='')}" if safe_next(next_path) else "/ui/login"


def safe_next(target: str | None) -> bool:
    """Only a dashboard path of this site may be a `next` (no open redirect)."""
    return bool(target) and str(target).startswith("/ui/") and not str(target).startswith("//")


def redirect(request: Request, target: str) -> Response:
    """Go to `target`: an `HX-Redirect` for htmx, a 303 otherwise."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def read_form(request: Request) -> ImmutableMultiDict[str, str]:
    """The urlencoded form htmx sent (the body size is already capped by the middleware)."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != FORM_TYPE:
        raise ValidationError.field("body", f"must be a form sent as {FORM_TYPE}")
    try:
        text = (await request.body()).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # not UTF-8, or too many fields
        raise ValidationError.field("body", "is not a readable form") from None
    return ImmutableMultiDict(pairs)
