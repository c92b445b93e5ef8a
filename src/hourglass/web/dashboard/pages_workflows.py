"""The workflows list and a workflow's page, with its actions: run now, terminate, delete.

Lists keep all their state in the URL (filters and cursor), so a reload, a link or the back
button shows the same page; htmx requests get only the part of the page they refresh, which is
also how the pages poll for live changes without touching the person's scroll or inputs.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from hourglass.domain.common import new_id
from hourglass.domain.jobs import BuildStatus, JobStatus, Kind, Trigger
from hourglass.domain.workflows import ListParams, Workflow
from hourglass.errors import PreconditionFailed, ValidationError
from hourglass.services.accounts import Principal
from hourglass.services.container import Services
from hourglass.web.dashboard import views
from hourglass.web.dashboard.core import Dashboard, DashboardDep, add_toast, is_htmx
from hourglass.web.dashboard.forms import FormData
from hourglass.web.dashboard.routing import HOME, dashboard_router, read_form, redirect
from hourglass.web.deps import CurrentUser, ServicesDep

router = dashboard_router()

PAGE_SIZE: Final = "25"
LIST_FILTERS: Final = ("query", "kind", "build_status", "terminated")
JOB_FILTERS: Final = ("status", "trigger")
JOBS_PAGE: Final = 20
HISTORY_FETCH: Final = 100  # enough jobs to find the last 50 that ran


def _params(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.query_params.get(name, "") for name in names}


def _url(path: str, params: dict[str, str]) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{path}?{query}" if query else path


@router.get("/ui")
@router.get("/ui/")
async def home(request: Request) -> Response:
    return redirect(request, HOME)


@router.get("/ui/workflows")
async def workflows_page(
    request: Request, principal: CurrentUser, services: ServicesDep, dashboard: DashboardDep
) -> Response:
    filters = _params(request, LIST_FILTERS)
    cursor = request.query_params.get("cursor", "")
    context: dict[str, Any] = {
        "filters": filters,
        "filtered": any(filters.values()),
        "cursor": cursor,
        "self_url": _url("/ui/workflows", {**filters, "cursor": cursor}),
        "first_url": _url("/ui/workflows", filters),
        "kinds": [k.value for k in Kind],
        "build_statuses": [s.value for s in BuildStatus],
        "problem": None,
        "workflows": [],
        "next_url": None,
    }
    try:
        params = ListParams(cursor=cursor, limit=PAGE_SIZE, **filters)
        page = await services.workflows.list(principal, params)
    except ValidationError as exc:
        context["problem"] = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    else:
        runs = await services.runs.last_runs(principal, [w.id for w in page.workflows])
        context["workflows"] = [(w, runs.get(w.id)) for w in page.workflows]
        if page.cursor:
            context["next_url"] = _url("/ui/workflows", {**filters, "cursor": page.cursor})
    context["now"] = services.clock.now()
    template = "workflows/_list.html" if is_htmx(request) else "workflows/list.html"
    return dashboard.render(request, template, context)


async def _workflow_context(
    request: Request, principal: Principal, services: Services, workflow: Workflow
) -> dict[str, Any]:
    """Everything the live part of a workflow's page shows."""
    filters = _params(request, JOB_FILTERS)
    cursor = request.query_params.get("cursor", "")
    base = f"/ui/workflows/{workflow.id}"
    jobs = await services.jobs.list(
        principal.user_id,
        workflow.id,
        cursor=cursor or None,
        limit=JOBS_PAGE,
        status=filters["status"] or None,
        trigger=filters["trigger"] or None,
    )
    recent = await services.jobs.list(
        principal.user_id, workflow.id, cursor=None, limit=HISTORY_FETCH, status=None, trigger=None
    )
    now = services.clock.now()
    active = any(not j.is_finished for j in recent.jobs[:5])
    building = workflow.build_status in (BuildStatus.QUEUED, BuildStatus.STARTED)
    return {
        "workflow": workflow,
        "state": views.workflow_state(workflow),
        "payload": views.pretty_payload(workflow),
        "upcoming": views.upcoming(workflow, now),
        "run_blocked": _run_blocked(workflow),
        "jobs": jobs.jobs,
        "bars": views.history_strip(recent.jobs, now),
        "strip": {"height": views.STRIP_HEIGHT, "step": views.STRIP_STEP},
        "filters": filters,
        "statuses": [s.value for s in JobStatus],
        "triggers": [t.value for t in Trigger],
        "self_url": _url(base, {**filters, "cursor": cursor}),
        "first_url": _url(base, filters),
        "next_url": _url(base, {**filters, "cursor": jobs.cursor}) if jobs.cursor else None,
        "poll": "every 2s" if active or building else "every 10s",
        "run_key": new_id(),
        "now": now,
    }


def _run_blocked(workflow: Workflow) -> str | None:
    """Why "Run now" is not allowed, or None (the service's own 412 rules)."""
    if workflow.terminated:
        return "The workflow is terminated: edit and save it to re-activate it."
    if workflow.build_status is not BuildStatus.COMPLETED:
        return f"The build is {workflow.build_status.value.lower()}: runs start once it completes."
    return None


@router.get("/ui/workflows/{workflow_id}")
async def workflow_page(
    workflow_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    workflow = await services.workflows.get(principal, workflow_id)
    try:
        context = await _workflow_context(request, principal, services, workflow)
    except ValidationError as exc:  # a filter or cursor that makes no sense: start afresh
        return _bad_filters(request, dashboard, workflow, exc)
    template = "workflows/_live.html" if is_htmx(request) else "workflows/show.html"
    return dashboard.render(request, template, context)


def _bad_filters(
    request: Request, dashboard: Dashboard, workflow: Workflow, exc: ValidationError
) -> Response:
    message = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    context = {"status": 400, "message": message, "back": f"/ui/workflows/{workflow.id}"}
    return dashboard.render(request, "error.html", context, status=400)


@router.get("/ui/workflows/{workflow_id}/jobs")
async def jobs_of(workflow_id: str, request: Request) -> Response:
    """The API's jobs path maps to the workflow's page, which lists them."""
    return redirect(request, _url(f"/ui/workflows/{workflow_id}", _params(request, JOB_FILTERS)))


@router.post("/ui/workflows/{workflow_id}/jobs/schedule")
async def run_now(
    workflow_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    form = await read_form(request)
    reply = await services.jobs.schedule(
        principal.user_id, workflow_id, idempotency_key=form.get("idempotency_key")
    )
    job_id = reply.body["id"]
    return redirect_with_toast(request, f"/ui/workflows/{workflow_id}/jobs/{job_id}", "Run started")


def _confirmed(form: FormData, workflow: Workflow) -> None:
    """Terminate and delete need the workflow's name typed back (the dialog checks it too)."""
    if form.get("confirm", "").strip() != workflow.name:
        raise ValidationError.field("confirm", "type the workflow's name to confirm")


@router.patch("/ui/workflows/{workflow_id}")
async def terminate(
    workflow_id: str, request: Request, principal: CurrentUser, services: ServicesDep
) -> Response:
    workflow = await services.workflows.get(principal, workflow_id)
    _confirmed(await read_form(request), workflow)
    await services.workflows.terminate(principal, workflow_id)
    return redirect_with_toast(request, f"/ui/workflows/{workflow_id}", "Workflow terminated")


@router.delete("/ui/workflows/{workflow_id}")
async def delete(
    workflow_id: str, request: Request, principal: CurrentUser, services: ServicesDep
) -> Response:
    workflow = await services.workflows.get(principal, workflow_id)
    _confirmed(await read_form(request), workflow)
    if not workflow.terminated:
        raise PreconditionFailed("terminate the workflow before deleting it")
    await services.workflows.delete(principal, workflow_id)
    return redirect_with_toast(request, HOME, f"Deleted “{workflow.name}”")


def redirect_with_toast(request: Request, target: str, message: str) -> Response:
    response = redirect(request, target)
    add_toast(response, message, after_redirect=True)
    return response
