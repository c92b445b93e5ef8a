"""Create and edit a workflow (one form per kind), and the live schedule preview.

The form posts to `/ui/workflows` (create) or PUTs `/ui/workflows/{id}` (replace), mirroring
the API; the body it builds goes through the same service, so every API validation error comes
back and is shown on its field (and listed above the form). Each form carries an
`Idempotency-Key`, unused until a save succeeds, so a retry after a network error cannot create
a workflow twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import Request
from starlette.responses import Response

from hourglass.domain.common import new_id
from hourglass.domain.jobs import Kind
from hourglass.domain.payloads import HTTP_METHODS, SECRET_MASK, default_timeout
from hourglass.domain.schedule import Schedule
from hourglass.domain.workflows import Workflow
from hourglass.errors import FieldError, ValidationError
from hourglass.services.container import Services
from hourglass.web.dashboard import views
from hourglass.web.dashboard.core import Dashboard, DashboardDep
from hourglass.web.dashboard.forms import WorkflowForm, field_id, label
from hourglass.web.dashboard.pages_workflows import redirect_with_toast
from hourglass.web.dashboard.routing import dashboard_router, read_form
from hourglass.web.deps import CurrentUser, ServicesDep

router = dashboard_router()


def _kinds(dashboard: Dashboard) -> list[Kind]:
    return [k for k in Kind if k is not Kind.COMMAND or dashboard.settings.command_kind_enabled]


def _render_form(
    request: Request,
    dashboard: Dashboard,
    form: WorkflowForm,
    *,
    workflow: Workflow | None,
    key: str,
    now: datetime,
    errors: list[FieldError] | None = None,
    fragment: bool = False,
) -> Response:
    by_id: dict[str, list[str]] = {}
    summary = []
    for error in errors or []:
        target = field_id(error.field, form)
        by_id.setdefault(target, []).append(error.message)
        summary.append(
            {
                "label": label(error.field),
                "message": error.message,
                "target": target,
            }
        )
    context: dict[str, Any] = {
        "form": form,
        "workflow": workflow,
        "key": key,
        "errors": by_id,
        "summary": summary,
        "methods": HTTP_METHODS,
        "mask": SECRET_MASK,
        "default_timeout": default_timeout(form.kind),
        "preview": _preview(form.schedule, form.interval, form.cron, now),
    }
    template = "workflows/_form.html" if fragment else "workflows/form.html"
    # 200 even with errors: the form is the answer to show (see base.html)
    return dashboard.render(request, template, context)


@router.get("/ui/workflows/new")
async def new_workflow(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    wanted = request.query_params.get("kind", "")
    kinds = _kinds(dashboard)
    if wanted not in {k.value for k in kinds}:
        context = {"kinds": kinds, "refused": wanted if wanted == Kind.COMMAND.value else None}
        return dashboard.render(request, "workflows/choose_kind.html", context)
    form = WorkflowForm.blank(Kind(wanted), dashboard.settings.default_log_retention_days)
    return _render_form(
        request, dashboard, form, workflow=None, key=new_id(), now=services.clock.now()
    )


@router.post("/ui/workflows")
async def create(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    data = await read_form(request)
    kind_name = data.get("kind", "")
    if kind_name not in {k.value for k in _kinds(dashboard)}:
        raise ValidationError.field("kind", "choose one of the kinds this server allows")
    form = WorkflowForm.from_form(Kind(kind_name), data)
    key = data.get("idempotency_key", "")

    async def save(body: dict[str, Any]) -> str:
        reply = await services.workflows.create(principal, body, idempotency_key=key)
        return f"/ui/workflows/{reply.body['id']}"

    done = "Workflow created: it is being built"
    return await _save(request, dashboard, services, form, None, key, save, done)


@router.get("/ui/workflows/{workflow_id}/edit")
async def edit_workflow(
    workflow_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    workflow = await services.workflows.get(principal, workflow_id)
    form = WorkflowForm.from_workflow(workflow)
    return _render_form(
        request, dashboard, form, workflow=workflow, key=new_id(), now=services.clock.now()
    )


@router.put("/ui/workflows/{workflow_id}")
async def replace(
    workflow_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    workflow = await services.workflows.get(principal, workflow_id)
    data = await read_form(request)
    form = WorkflowForm.from_form(workflow.kind, data)
    key = data.get("idempotency_key", "")

    async def save(body: dict[str, Any]) -> str:
        await services.workflows.update(principal, workflow_id, body, idempotency_key=key)
        return f"/ui/workflows/{workflow_id}"

    return await _save(request, dashboard, services, form, workflow, key, save, "Workflow saved")


async def _save(
    request: Request,
    dashboard: Dashboard,
    services: Services,
    form: WorkflowForm,
    workflow: Workflow | None,
    key: str,
    save: Callable[[dict[str, Any]], Awaitable[str]],
    done: str,
) -> Response:
    """Send the form's body to the service (`save` answers the page to go to); refused, the
    form comes back with the API's errors on their fields."""
    try:
        target = await save(form.to_body(with_kind=workflow is None))
    except ValidationError as exc:
        now = services.clock.now()
        return _render_form(
            request,
            dashboard,
            form,
            workflow=workflow,
            key=key,
            now=now,
            errors=exc.errors,
            fragment=True,
        )
    return redirect_with_toast(request, target, done)


def _preview(choice: str, interval: str, cron: str, now: datetime) -> dict[str, Any]:
    """The schedule in words and its next five run times, or why it is not a schedule."""
    try:
        if choice == "cron":
            schedule = Schedule.parse(None, cron)
        else:
            text = interval.strip()
            minutes: Any = int(text) if text.isascii() and text.isdigit() else text
            schedule = Schedule.parse(minutes, None)
    except ValidationError as exc:
        return {"problem": exc.errors[0].message, "words": None, "times": []}
    return {
        "problem": None,
        "words": views.schedule_words(schedule),
        "times": views.next_runs(schedule, now),
    }


@router.get("/ui/schedule")
async def schedule_preview(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    """The preview fragment, refreshed as the person types."""
    q = request.query_params
    preview = _preview(
        q.get("schedule", "interval"),
        q.get("interval", ""),
        q.get("cron", ""),
        services.clock.now(),
    )
    return dashboard.render(request, "workflows/_preview.html", {"preview": preview})
