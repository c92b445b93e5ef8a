"""A job's page: its status and timeline, cancel, and the slot where its log goes.

The log part is its own template (`jobs/_log.html`) and its own ES module (`js/log-slot.js`):
the log viewer replaces both without touching the rest of the page. Until then the slot shows
the last lines from the API and a download link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from starlette.responses import Response

from hourglass.domain.jobs import Job
from hourglass.domain.workflows import Workflow
from hourglass.errors import Conflict
from hourglass.services.accounts import Principal
from hourglass.services.container import Services
from hourglass.web.dashboard import views
from hourglass.web.dashboard.core import Dashboard, DashboardDep, add_toast, is_htmx
from hourglass.web.dashboard.routing import dashboard_router
from hourglass.web.deps import CurrentUser, ServicesDep

router = dashboard_router()


def _context(workflow: Workflow, job: Job, now: datetime) -> dict[str, Any]:
    return {
        "workflow": workflow,
        "job": job,
        "api_path": f"/workflows/{workflow.id}/jobs/{job.id}",
        "tone": views.JOB_TONES[job.status],
        "seconds": views.run_seconds(job, now),
        "waited": (job.started_at - job.scheduled_at).total_seconds()
        if job.started_at is not None
        else None,
        "poll": None if job.is_finished else "every 2s",
        "now": now,
    }


@router.get("/ui/workflows/{workflow_id}/jobs/{job_id}")
async def job_page(
    workflow_id: str,
    job_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    template = "jobs/_live.html" if is_htmx(request) else "jobs/show.html"
    return await _render(request, dashboard, services, principal, workflow_id, job_id, template)


@router.post("/ui/workflows/{workflow_id}/jobs/{job_id}/cancel")
async def cancel(
    workflow_id: str,
    job_id: str,
    request: Request,
    principal: CurrentUser,
    services: ServicesDep,
    dashboard: DashboardDep,
) -> Response:
    await services.jobs.get(principal.user_id, workflow_id, job_id)  # 404 before anything else
    try:
        await services.jobs.cancel(principal.user_id, workflow_id, job_id)
    except Conflict as exc:  # it ended meanwhile: show it as it is now, and say so
        message, level = f"Nothing to cancel: {exc.message}", "error"
    else:
        message, level = "Cancel requested", "ok"
    response = await _render(
        request, dashboard, services, principal, workflow_id, job_id, "jobs/_live.html"
    )
    add_toast(response, message, level)
    return response


async def _render(
    request: Request,
    dashboard: Dashboard,
    services: Services,
    principal: Principal,
    workflow_id: str,
    job_id: str,
    template: str,
) -> Response:
    workflow = await services.workflows.get(principal, workflow_id)
    job = await services.jobs.get(principal.user_id, workflow_id, job_id)
    return dashboard.render(request, template, _context(workflow, job, services.clock.now()))
