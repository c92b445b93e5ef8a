"""How the API shows a job and a workflow: every field present, timestamps in RFC 3339, secret
values masked. One definition for the HTTP answers and the bodies of webhook deliveries, so a
webhook receiver sees exactly what `GET` would return."""

from __future__ import annotations

from typing import Any

from hourglass.domain.common import format_ts
from hourglass.domain.jobs import Job
from hourglass.domain.workflows import Workflow


def job_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "workflow_id": job.workflow_id,
        "status": job.status.value,
        "trigger": job.trigger.value,
        "attempts": job.attempts,
        "exit_code": job.exit_code,
        "failure_reason": job.failure_reason,
        "scheduled_at": format_ts(job.scheduled_at),
        "started_at": format_ts(job.started_at),
        "completed_at": format_ts(job.completed_at),
        "created_at": format_ts(job.created_at),
        "updated_at": format_ts(job.updated_at),
        "log_state": job.log_state.value,
        "log_lines": job.log_lines,
        "log_bytes": job.log_bytes,
    }


def workflow_json(workflow: Workflow) -> dict[str, Any]:
    """A workflow as the API shows it: every field present, secrets masked."""
    return {
        "id": workflow.id,
        "name": workflow.name,
        "kind": workflow.kind.value,
        "payload": workflow.public_payload,
        "interval": workflow.interval_minutes,
        "cron": workflow.cron,
        "build_status": workflow.build_status.value,
        "build_reason": workflow.build_reason,
        "generation": workflow.generation,
        "consecutive_job_failures_count": workflow.consecutive_job_failures_count,
        "max_consecutive_job_failures_allowed": workflow.max_consecutive_job_failures_allowed,
        "log_retention": workflow.log_retention,
        "log_retention_days": workflow.log_retention_days,
        "next_run_at": format_ts(workflow.next_run_at),
        "created_at": format_ts(workflow.created_at),
        "updated_at": format_ts(workflow.updated_at),
        "terminated_at": format_ts(workflow.terminated_at),
    }
