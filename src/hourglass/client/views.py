"""How workflows and jobs are shown: list pages collected, tables and records, JSON."""

from __future__ import annotations

import sys
from typing import Any

from hourglass.client import output
from hourglass.client.api import Api
from hourglass.client.logs import _segment

PAGE = 1000


def workflow_path(workflow_id: str) -> str:
    return f"/workflows/{_segment(workflow_id)}"


def collect(
    api: Api, path: str, key: str, filters: dict[str, Any], limit: int, everything: bool
) -> list[dict[str, Any]]:
    """Up to `limit` items of a list route (every one with `everything`), page after page."""
    items: list[dict[str, Any]] = []
    params = {k: v for k, v in filters.items() if v is not None}
    while True:
        want = PAGE if everything else min(PAGE, limit - len(items))
        page = api.get(path, **params, limit=want)
        items += page[key]
        if not page.get("cursor") or (not everything and len(items) >= limit):
            return items
        params["cursor"] = page["cursor"]


def schedule_text(workflow: dict[str, Any]) -> str:
    if workflow.get("cron"):
        return f"cron {workflow['cron']}"
    minutes = workflow.get("interval")
    if not isinstance(minutes, int):
        return ""
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"every {minutes // size}{unit}"
    return f"every {minutes}m"


def show_workflows(items: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        output.emit_json(items)
        return
    columns = ("ID", "NAME", "KIND", "SCHEDULE", "STATE", "NEXT RUN (UTC)")
    rows = [
        (
            w["id"],
            w["name"],
            w["kind"],
            schedule_text(w),
            state(w),
            w.get("next_run_at"),
        )
        for w in items
    ]
    output.table(columns, rows, empty="no workflows")


def state(workflow: dict[str, Any]) -> str:
    """One word for where a workflow stands: terminated, building, build failed or active."""
    if workflow.get("terminated_at"):
        return "terminated"
    build = workflow.get("build_status")
    if build in ("QUEUED", "STARTED"):
        return "building"
    return "build failed" if build == "FAILED" else "active"


def show_workflow(workflow: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.emit_json(workflow)
        return
    pairs = [(k, v) for k, v in workflow.items() if k != "payload"]
    pairs.insert(3, ("payload", workflow.get("payload")))
    pairs.insert(5, ("schedule", schedule_text(workflow)))
    output.details(pairs)


def show_jobs(items: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        output.emit_json(items)
        return
    columns = ("ID", "STATUS", "TRIGGER", "EXIT", "STARTED (UTC)", "DURATION", "LINES")
    rows = [
        (
            j["id"],
            j["status"],
            str(j["trigger"]).lower(),
            j.get("exit_code"),
            j.get("started_at"),
            duration(j.get("started_at"), j.get("completed_at")),
            j.get("log_lines"),
        )
        for j in items
    ]
    output.table(columns, rows, empty="no jobs")


def duration(start: str | None, end: str | None) -> str:
    """`1m05s`-style time between two API time stamps ("" when either is missing)."""
    if not start or not end:
        return ""
    from datetime import datetime

    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return ""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f}s"
    hours, rest = divmod(whole, 3600)
    return (f"{hours}h" if hours else "") + f"{rest // 60}m{rest % 60:02d}s"


def show_job(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.emit_json(job)
    else:
        output.details(list(job.items()))


def created(new_id: str, as_json: bool) -> None:
    """A new id: on standard output alone, so `ID=$(hourglass …)` works."""
    if as_json:
        output.emit_json({"id": new_id})
    else:
        sys.stdout.write(new_id + "\n")


def note_job(workflow_id: str, job_id: str) -> None:
    output.note(f"job {job_id} (hourglass jobs show {workflow_id} {job_id})")
