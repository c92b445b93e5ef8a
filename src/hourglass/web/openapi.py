"""The OpenAPI document at `/openapi.json`, made to match the contract (docs/api.md).

FastAPI's generated schema is a good start but not the contract: it advertises 422 (we never
answer it), knows nothing of our problem+json errors, of cookie/CSRF/Bearer authentication, of
bodies read by `deps.JsonBody`, or that `Idempotency-Key` is required (it is optional to FastAPI
only so the handler can answer its own 400). `contract_schema` fixes all of that from what each
route really depends on, so a new route is documented correctly without anyone remembering to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from hourglass.services.idempotency import HEADER as IDEMPOTENCY_HEADER
from hourglass.web.deps import JsonBody, get_principal, get_services
from hourglass.web.openapi_params import empty_is_absent, parameter_schema

PROBLEM_REF = "#/components/schemas/Problem"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DESCRIPTIONS = {
    400: "Invalid input: the fields are named in `errors`",
    401: "No valid session or API token (or it expired)",
    403: "Cookie session without a matching `X-CSRF-Token` header, or refused by policy",
    404: "Not found, or not yours",
    409: "Conflict (e.g. an `Idempotency-Key` reused with another body)",
    412: "The resource is not in a state that allows this request",
    413: "The request body is larger than the limit",
    429: "Too many failed logins: wait `Retry-After` seconds",
    500: "Internal error (the body carries the `request_id`)",
    503: "The store is unavailable",
}

_COMPONENTS: dict[str, Any] = {
    "FieldError": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    },
    "Problem": {
        "type": "object",
        "description": "An error, as RFC 9457 application/problem+json",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "example": "about:blank"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            "request_id": {"type": "string", "description": "500 only"},
        },
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "Set by POST /auth/register and /auth/login.",
    },
    "csrfHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "Equal to the `csrf` cookie; required with the session cookie on "
        "POST, PUT, PATCH and DELETE.",
    },
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token (POST /tokens); no CSRF header needed.",
    },
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route decorator: the error statuses only this route can answer."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def install(app: FastAPI) -> None:
    """Serve `contract_schema(app)` (built once, on first request) as the app's OpenAPI."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract_schema(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def contract_schema(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(_COMPONENTS)
    components["securitySchemes"] = SECURITY_SCHEMES
    for route in _api_routes(app):
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _document(operation, route, method, schemas)
    _link(schema["paths"])
    return schema


_WORKFLOW = "/workflows/{workflow_id}"
_JOB = f"{_WORKFLOW}/jobs/{{job_id}}"
_WEBHOOK = "/webhooks/{webhook_id}"
# what a POST creates (its 201 body's `id`) and where that id goes next: OpenAPI links, so a
# client (or a stateful test) can follow create -> read -> change -> delete
LINKS: dict[str, tuple[dict[str, str], list[tuple[str, str]]]] = {
    "/workflows": (
        {"workflow_id": "$response.body#/id"},
        [
            ("get", _WORKFLOW),
            ("put", _WORKFLOW),
            ("patch", _WORKFLOW),
            ("delete", _WORKFLOW),
            ("get", f"{_WORKFLOW}/jobs"),
            ("post", f"{_WORKFLOW}/jobs/schedule"),
            ("get", "/analytics/{workflow_id}"),
        ],
    ),
    f"{_WORKFLOW}/jobs/schedule": (
        {"workflow_id": "$request.path.workflow_id", "job_id": "$response.body#/id"},
        [
            ("get", _JOB),
            ("post", f"{_JOB}/cancel"),
            ("get", f"{_JOB}/logs"),
            ("get", f"{_JOB}/logs/search"),
            ("get", f"{_JOB}/logs/summary"),
            ("get", f"{_JOB}/logs/raw"),
            ("head", f"{_JOB}/logs/raw"),
            ("get", f"{_JOB}/events"),
        ],
    ),
    "/webhooks": (
        {"webhook_id": "$response.body#/id"},
        [
            ("get", _WEBHOOK),
            ("patch", _WEBHOOK),
            ("delete", _WEBHOOK),
            ("get", f"{_WEBHOOK}/deliveries"),
            ("post", f"{_WEBHOOK}/test"),
        ],
    ),
    "/tokens": ({"token_id": "$response.body#/id"}, [("delete", "/tokens/{token_id}")]),
}


def _link(paths: dict[str, Any]) -> None:
    """Add `LINKS` to the 201 answers of the POSTs that create something."""
    for source, (parameters, targets) in LINKS.items():
        created = paths.get(source, {}).get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links = created.setdefault("links", {})
        for method, path in targets:
            target = paths.get(path, {}).get(method)
            if target is None:
                continue
            wanted = {p["name"] for p in target.get("parameters", []) if p.get("in") == "path"}
            links[target["operationId"]] = {
                "operationId": target["operationId"],
                "parameters": {k: v for k, v in parameters.items() if k in wanted},
            }


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every documented API route, as the route (or FastAPI's context of an included one)."""
    # FastAPI >= 0.16x keeps included routers whole in `app.routes`; older ones flatten them
    contexts = getattr(routing, "iter_route_contexts", None)
    routes: list[Any] = list(contexts(app.routes) if contexts else app.routes)
    for route in routes:
        if (
            isinstance(getattr(route, "original_route", route), APIRoute)
            and route.include_in_schema
        ):
            yield route


def _document(operation: dict[str, Any], route: Any, method: str, schemas: dict[str, Any]) -> None:
    calls = list(_calls(route.dependant))
    bodies = [call for call in calls if isinstance(call, JsonBody)]
    authenticated = get_principal in calls
    if authenticated:
        session: dict[str, list[str]] = {"sessionCookie": []}
        if method in UNSAFE:
            session["csrfHeader"] = []
        operation["security"] = [session, {"bearerToken": []}]
    for body in bodies:
        operation["requestBody"] = _request_body(body, schemas)
    for parameter in operation.get("parameters", []):
        _describe_parameter(route.path_format, parameter)
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    statuses = _statuses(route, method, authenticated, bool(bodies), calls)
    for status in sorted(statuses | {int(s) for s in responses if s.isdigit()}):
        _problem_response(responses, status, declared=route.responses.get(status))


def _describe_parameter(path: str, parameter: dict[str, Any]) -> None:
    """What the server accepts of a parameter it reads itself (FastAPI only knows `str | None`)."""
    location, name = parameter.get("in", ""), parameter.get("name", "")
    if location == "header" and name == IDEMPOTENCY_HEADER:
        parameter["required"] = True
    found = parameter_schema(path, location, name)
    if found is None:
        return
    schema = dict(found)
    description = schema.pop("description", None)
    if description and not parameter.get("description"):
        parameter["description"] = description
    parameter["schema"] = schema
    if empty_is_absent(path, location, name):
        parameter["allowEmptyValue"] = True


def _statuses(
    route: Any, method: str, authenticated: bool, has_body: bool, calls: list[Any]
) -> set[int]:
    """The error statuses a route can answer, from what it depends on."""
    found = {500}
    if authenticated:
        found.add(401)
        if method in UNSAFE:
            found.add(403)
    if _flat(route.dependant, "path_params"):
        found.add(404)
    if has_body or any(_flat(route.dependant, k) for k in ("query_params", "header_params")):
        found.add(400)
    if has_body:
        found.add(413)
    if get_services in calls or authenticated:
        found.add(503)
    return found


def _problem_response(
    responses: dict[str, Any], status: int, *, declared: dict[str, Any] | None
) -> None:
    if status < 400:
        return
    entry = responses.setdefault(str(status), {})
    entry.setdefault("description", DESCRIPTIONS.get(status, "Error"))
    if declared is None or "content" not in declared:
        entry["content"] = {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}}
    if status == 429:
        entry["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    if status == 401:
        entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}


def _request_body(body: JsonBody[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    model = body.model
    model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(model_schema.pop("$defs", {}))
    schemas[model.__name__] = model_schema
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _flat(dependant: Dependant, kind: str) -> bool:
    """Whether `dependant` or any of its dependencies declares parameters of `kind`."""
    return bool(getattr(dependant, kind)) or any(_flat(d, kind) for d in dependant.dependencies)
