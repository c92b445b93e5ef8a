"""A job's page: its status and timeline, cancel, and its log.

The log part is its own template (`jobs/_log.html`) and its own ES modules (`js/viewer/`): the
log viewer, which reads the log from the API; the page hands it the job's state (`viewer`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from starlette.responses import Response

from hourglass.domain.common import format_ts
from hourglass.domain.jobs import Job, JobStatus, LogState
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
        "viewer": _viewer(job, workflow, now),
    }


def _viewer(job: Job, workflow: Workflow, now: datetime) -> dict[str, Any]:
    """What the log viewer needs to open before its first request: where relative time stamps
    count from, whether absolute ones need a date, and whether it will open at the top of a
    finished log (its first page is then fetched with the page: `first_page`)."""
    start = job.started_at or job.created_at
    end = job.completed_at or now
    at_top = (
        job.is_finished
        and job.status != JobStatus.FAILED  # opens at its first error
        and workflow.log_retention
        and job.log_state in (LogState.COMPLETE, LogState.TRUNCATED)
        and job.log_lines > 0
    )
    return {
        "started_at": format_ts(job.started_at) if job.started_at else "",
        "multi_day": start.date() != end.date(),
        # the viewer's first request, exactly as it makes it (js/viewer/source.js, BLOCK)
        "first_page": "/logs?after=0&limit=500&order=asc" if at_top else "",
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
