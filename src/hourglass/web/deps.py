"""Request dependencies: the services, who is calling, the CSRF check, JSON bodies and the
Idempotency-Key header.

Handlers receive them through the `Annotated[…, Depends(…)]` aliases below, which read
`app.state`; nothing here is a global. FastAPI runs a handler's dependencies in the order of its
parameters, each failure answering at once, so that order is the order of the checks:
principal (401, then CSRF 403) → the resource (404) → `Idempotency-Key` (400) → body (400).
Bodies are read by `JsonBody`, not by FastAPI, so that a malformed body cannot answer before
authentication does, and every way of being malformed gets the same problem+json.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Generic, TypeVar

import pydantic
from fastapi import Depends, Header, Request
from pydantic import BeforeValidator, StrictInt

from hourglass.domain.accounts import csrf_token_for
from hourglass.domain.common import find_bad_text, loads_strict
from hourglass.domain.webhooks import Webhook
from hourglass.domain.workflows import Workflow
from hourglass.errors import Forbidden, Unauthorized, ValidationError
from hourglass.services.accounts import Principal
from hourglass.services.container import Services
from hourglass.services.idempotency import HEADER as IDEMPOTENCY_HEADER
from hourglass.services.idempotency import check_key
from hourglass.web.errors import malformed_json, validation_error

SESSION_COOKIE = "session"
CSRF_COOKIE = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# UTF-8's, then UTF-16's (and UTF-32's, which start alike): API.md takes UTF-8 only
_BYTE_ORDER_MARKS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def client_addr(request: Request) -> str:
    """The client's address, as the login rate limit counts it (a trusted proxy's
    `X-Forwarded-For` is already applied by the server: `HOURGLASS_TRUSTED_PROXIES`)."""
    return request.client.host if request.client else "unknown"


async def get_services(request: Request) -> Services:
    """The app's services (async: FastAPI would run a plain `def` dependency in a thread)."""
    return services_of(request)


def check_csrf(request: Request, session_token: str) -> None:
    """Double-submit: the `X-CSRF-Token` header must equal the `csrf` cookie.

    The cookie must also be the one issued with this session, so a planted `csrf` cookie
    (from a sibling subdomain, or injected over plain http) is worthless.
    """
    # compared as bytes: `compare_digest` refuses non-ASCII str, and headers may carry any byte
    cookie = request.cookies.get(CSRF_COOKIE, "").encode()
    header = request.headers.get(CSRF_HEADER, "").encode()
    expected = csrf_token_for(session_token).encode()
    matches = secrets.compare_digest(cookie, header) & secrets.compare_digest(cookie, expected)
    if not cookie or not matches:
        raise Forbidden("CSRF token missing or does not match")


async def get_principal(request: Request) -> Principal:
    """The caller, by Bearer token or by session cookie (+ CSRF on state-changing methods)."""
    services = services_of(request)
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return await services.accounts.authenticate_token(credentials.strip())
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized()
    principal = await services.accounts.authenticate_session(token)
    if request.method not in SAFE_METHODS:
        check_csrf(request, token)
    return principal


M = TypeVar("M", bound=pydantic.BaseModel)


class JsonBody(Generic[M]):
    """A dependency that reads the request body as a JSON object of `model`'s shape.

    Every failure is a 400 problem+json naming the field: not JSON (bad syntax or encoding,
    nested too deeply, NaN), not the JSON content type, a string with NUL or a lone surrogate
    anywhere in it, or a wrong type. `web/openapi.py` documents the body from `model`.
    """

    def __init__(self, model: type[M]) -> None:
        self.model = model

    async def __call__(self, request: Request) -> M:
        value = await read_json(request)
        try:
            return self.model.model_validate(value)
        except pydantic.ValidationError as exc:
            raise validation_error(exc.errors()) from None


def _integral(value: object) -> object:
    """JSON has one number type: `3.0` is the integer 3 (as JSON Schema says), `3.5` is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[StrictInt, BeforeValidator(_integral)]
"""An integer field of a JSON body: no strings or booleans, and `3.0` is 3."""


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_json(request: Request) -> object:
    """The request body decoded as JSON, its strings all storable; `ValidationError` on `body`."""
    if not _is_json(request.headers.get("content-type", "")):
        raise ValidationError.field("body", "must be JSON sent with Content-Type: application/json")
    raw = await request.body()
    if raw.startswith(_BYTE_ORDER_MARKS):
        raise malformed_json("must be UTF-8 without a byte order mark")
    try:
        text = raw.decode("utf-8")  # json.loads would also guess UTF-16, UTF-32 and a BOM
    except UnicodeDecodeError:
        raise malformed_json("must be UTF-8") from None
    try:
        value = loads_strict(text)
    except RecursionError:
        raise malformed_json("nested too deeply") from None
    except ValueError:  # bad syntax, absurd numbers
        raise malformed_json() from None
    bad = find_bad_text(value)
    if bad is not None:
        raise ValidationError(bad)
    return value


async def get_idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Required. The same key with the same body replays the first response; "
            "with another body it is 409. Kept 24 h, per user.",
        ),
    ] = None,
) -> str:
    """The `Idempotency-Key` header, checked (400 naming it when missing or unusable).

    Optional to FastAPI so that a missing key gets our message; `web/openapi.py` marks it
    required in the schema.
    """
    return check_key(key)


ServicesDep = Annotated[Services, Depends(get_services)]
CurrentUser = Annotated[Principal, Depends(get_principal)]
IdempotencyKey = Annotated[str, Depends(get_idempotency_key)]


async def get_owned_workflow(
    workflow_id: str, principal: CurrentUser, services: ServicesDep
) -> Workflow:
    """The caller's workflow of the path (404 if malformed, unknown or someone else's)."""
    return await services.workflows.get(principal, workflow_id)


OwnedWorkflow = Annotated[Workflow, Depends(get_owned_workflow)]
"""The path's workflow, checked before the dependencies after it (key, body) are."""


async def get_owned_webhook(
    webhook_id: str, principal: CurrentUser, services: ServicesDep
) -> Webhook:
    """The caller's webhook of the path (404 if malformed, unknown or someone else's)."""
    return await services.webhooks.get(principal.user_id, webhook_id)


OwnedWebhook = Annotated[Webhook, Depends(get_owned_webhook)]
"""The path's webhook, checked before its body is read."""
