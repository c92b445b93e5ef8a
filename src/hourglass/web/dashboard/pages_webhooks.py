"""Webhooks: the list with the form that adds one (`/ui/webhooks`; the signing secret is shown
once, with a Copy button) and a webhook's page (`/ui/webhooks/{id}`): edit, turn off or on,
send a test, delete, and its recent deliveries, refreshed while one is pending.

Forms become the API's bodies and go through the same service as `/webhooks`, so every refusal
is the API's own, shown on its field (a URL the outbound policy refuses → the URL field).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from starlette.responses import Response

from hourglass.domain.events import WebhookEvent
from hourglass.domain.webhooks import DeliveryStatus, Webhook, WebhookFormat
from hourglass.errors import Conflict, ValidationError
from hourglass.services.container import Services
from hourglass.web.dashboard.core import Dashboard, DashboardDep, add_toast, is_htmx
from hourglass.web.dashboard.forms import FormData
from hourglass.web.dashboard.routing import dashboard_router, read_form, redirect
from hourglass.web.deps import CurrentUser, ServicesDep

router = dashboard_router()

DELIVERIES_PAGE: Final = "20"
EVENT_LABELS: Final = {
    WebhookEvent.JOB_FAILED: "a job failed (after its last attempt)",
    WebhookEvent.BUILD_FAILED: "a build failed",
    WebhookEvent.TERMINATED: "a workflow was terminated",
    WebhookEvent.JOB_COMPLETED: "a job completed",
    WebhookEvent.JOB_CANCELED: "a job was canceled",
}
# a new webhook starts with the alerts checked (a success per run would flood it)
DEFAULT_EVENTS: Final = (
    WebhookEvent.JOB_FAILED,
    WebhookEvent.BUILD_FAILED,
    WebhookEvent.TERMINATED,
)
DELIVERY_TONES: Final = {
    DeliveryStatus.DELIVERED: "ok",
    DeliveryStatus.PENDING: "info",
    DeliveryStatus.FAILED: "bad",
}
_PATH_SHOWN: Final = 12


def short_url(url: str) -> str:
    """The URL with most of its path hidden (a Slack webhook's path is its credential)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(path) > _PATH_SHOWN + 4:
        path = path[:_PATH_SHOWN] + "…"
    return f"{parts.scheme}://{parts.netloc}{path}"


def form_body(form: FormData) -> dict[str, Any]:
    """The form as the API's body: every field, so the API checks each one."""
    return {
        "url": form.get("url", ""),
        "events": form.getlist("events"),
        "description": form.get("description", ""),
        "format": form.get("format", WebhookFormat.STANDARD.value),
    }


def form_values(hook: Webhook | None) -> dict[str, Any]:
    if hook is None:
        return {
            "url": "",
            "events": [e.value for e in DEFAULT_EVENTS],
            "description": "",
            "format": "standard",
        }
    return {
        "url": hook.url,
        "events": [e.value for e in hook.events],
        "description": hook.description,
        "format": hook.format.value,
    }


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """The API's errors by form field (`events[2]` belongs to the events)."""
    found: dict[str, list[str]] = {}
    for error in exc.errors:
        name = error.field.split("[", 1)[0]
        name = name if name in ("url", "events", "description", "format") else "form"
        found.setdefault(name, []).append(error.message)
    return found


def _form_context(
    values: dict[str, Any], errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors or {},
        "event_labels": {e.value: label for e, label in EVENT_LABELS.items()},
        "formats": [f.value for f in WebhookFormat],
    }


async def _list_context(user_id: str, services: Services) -> dict[str, Any]:
    hooks = await services.webhooks.owned(user_id)
    return {"hooks": [(h, short_url(h.url)) for h in hooks], "created": None, "secret": None}


@router.get("/ui/webhooks")
async def webhooks_page(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    context = await _list_context(principal.user_id, services)
    context.update(_form_context(form_values(None)))
    return dashboard.render(request, "webhooks/list.html", context)


@router.post("/ui/webhooks")
async def create_webhook(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    form = await read_form(request)
    body = form_body(form)
    try:
        hook, secret = await services.webhooks.create(principal.user_id, body)
    except ValidationError as exc:
        errors = field_errors(exc)
    except Conflict as exc:  # too many: not a field's fault, said above the form
        errors = {"form": [exc.message]}
    else:
        context = await _list_context(principal.user_id, services)
        context.update(_form_context(form_values(None)), created=hook, secret=secret)
        context["created_short"] = short_url(hook.url)
        return dashboard.render(request, "webhooks/_section.html", context, toast="Webhook added")
    context = await _list_context(principal.user_id, services)
    context.update(_form_context(body, errors))
    return dashboard.render(request, "webhooks/_section.html", context)


async def _deliveries_context(
    user_id: str, services: Services, hook: Webhook, cursor: str
) -> dict[str, Any]:
    base = f"/ui/webhooks/{hook.id}/deliveries"
    context: dict[str, Any] = {
        "hook": hook,
        "deliveries": [],
        "problem": None,
        "tones": DELIVERY_TONES,
    }
    context["self_url"] = f"{base}?{urlencode({'cursor': cursor})}" if cursor else base
    context["first_url"] = base if cursor else None
    context["next_url"] = None
    try:
        page = await services.webhooks.deliveries(
            user_id, hook.id, cursor=cursor or None, limit=DELIVERIES_PAGE
        )
    except ValidationError as exc:  # a stale or hand-made cursor
        context["problem"] = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        context["poll"] = None
        return context
    context["deliveries"] = page.deliveries
    context["next_url"] = f"{base}?{urlencode({'cursor': page.cursor})}" if page.cursor else None
    pending = any(d.status is DeliveryStatus.PENDING for d in page.deliveries)
    context["poll"] = "every 2s" if pending else "every 10s"
    return context


async def _page(
    request: Request, services: Services, dashboard: Dashboard, user_id: str, hook: Webhook
) -> Response:
    context = {
        **_form_context(form_values(hook)),
        **await _deliveries_context(user_id, services, hook, ""),
        "short": short_url(hook.url),
    }
    return dashboard.render(request, "webhooks/show.html", context)


@router.get("/ui/webhooks/{webhook_id}")
async def webhook_page(
    webhook_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    hook = await services.webhooks.get(principal.user_id, webhook_id)
    return await _page(request, services, dashboard, principal.user_id, hook)


@router.patch("/ui/webhooks/{webhook_id}")
async def update_webhook(
    webhook_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    """The on/off button (`enabled`), or the edit form (its errors on their fields)."""
    form = await read_form(request)
    if "enabled" in form:
        raw = form["enabled"]
        enabled: object = {"true": True, "false": False}.get(raw, raw)
        hook = await services.webhooks.update(principal.user_id, webhook_id, {"enabled": enabled})
        done = "Webhook turned on" if hook.enabled else "Webhook turned off: nothing is sent"
        context = {"hook": hook, "short": short_url(hook.url)}
        return dashboard.render(request, "webhooks/_summary.html", context, toast=done)
    hook = await services.webhooks.get(principal.user_id, webhook_id)
    body = form_body(form)
    try:
        await services.webhooks.update(principal.user_id, webhook_id, body)
    except ValidationError as exc:
        context = {**_form_context(body, field_errors(exc)), "hook": hook}
        return dashboard.render(request, "webhooks/_form.html", context)
    response = redirect(request, f"/ui/webhooks/{hook.id}")
    add_toast(response, "Webhook saved", after_redirect=True)
    return response


@router.delete("/ui/webhooks/{webhook_id}")
async def delete_webhook(
    webhook_id: str, request: Request, principal: CurrentUser, services: ServicesDep
) -> Response:
    await services.webhooks.delete(principal.user_id, webhook_id)
    response = redirect(request, "/ui/webhooks")
    add_toast(response, "Webhook deleted", after_redirect=True)
    return response


@router.post("/ui/webhooks/{webhook_id}/test")
async def send_test(
    webhook_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    """Queue a `webhook.test` delivery; answers the deliveries list, which then shows it."""
    await services.webhooks.test(principal.user_id, webhook_id)
    hook = await services.webhooks.get(principal.user_id, webhook_id)
    context = await _deliveries_context(principal.user_id, services, hook, "")
    toast = "Test delivery queued: it is sent within seconds"
    return dashboard.render(request, "webhooks/_deliveries.html", context, toast=toast)


@router.get("/ui/webhooks/{webhook_id}/deliveries")
async def deliveries(
    webhook_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    """The deliveries list (polled by the webhook's page); a browser goes to that page."""
    hook = await services.webhooks.get(principal.user_id, webhook_id)
    if not is_htmx(request):
        return redirect(request, f"/ui/webhooks/{hook.id}")
    cursor = request.query_params.get("cursor", "")
    context = await _deliveries_context(principal.user_id, services, hook, cursor)
    return dashboard.render(request, "webhooks/_deliveries.html", context)
