"""What happened, as the engine and the services report it inside the transaction that made it
true: a job ended, a build changed, a workflow was terminated, a webhook was disabled. Each event
says which notification it causes and which webhook event type (if any) it is. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from hourglass.domain.common import format_ts
from hourglass.domain.jobs import BuildStatus, Job, JobStatus
from hourglass.domain.notifications import Draft, EntityType, NotificationKind

REASON_MAX: Final = 300  # characters of a failure reason quoted in a message


class WebhookEvent(StrEnum):
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_CANCELED = "job.canceled"
    BUILD_FAILED = "workflow.build_failed"
    TERMINATED = "workflow.terminated"


TEST_EVENT: Final = "webhook.test"
"""The type of the delivery `POST /webhooks/{id}/test` sends (whatever the webhook's events)."""


@dataclass(frozen=True, slots=True)
class JobEnded:
    """A job reached a final status (COMPLETED, FAILED or CANCELED), by any path."""

    job: Job
    workflow_name: str
    kind: str = ""  # the workflow's kind (for metrics)


@dataclass(frozen=True, slots=True)
class BuildChanged:
    """A workflow's build STARTED, COMPLETED or FAILED (for one generation of its payload)."""

    workflow_id: str
    user_id: str
    workflow_name: str
    generation: int
    status: BuildStatus
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowTerminated:
    """A workflow was terminated: by its owner (`failures` None) or after `failures` in a row."""

    workflow_id: str
    user_id: str
    workflow_name: str
    at: datetime
    failures: int | None = None


@dataclass(frozen=True, slots=True)
class WebhookDisabled:
    """A webhook failed too often for too long and was turned off."""

    webhook_id: str
    user_id: str
    host: str  # the URL's host only: a path may hold a credential (Slack's do)
    failures: int
    since: datetime


Event = JobEnded | BuildChanged | WorkflowTerminated | WebhookDisabled

_JOB_NOTICE: Final = {
    JobStatus.COMPLETED: ("Job Execution Completed", NotificationKind.WEB_SUCCESS, "completed"),
    JobStatus.FAILED: ("Job Execution Failed", NotificationKind.WEB_ERROR, "failed"),
    JobStatus.CANCELED: ("Job Canceled", NotificationKind.WEB_INFO, "was canceled"),
}
_BUILD_NOTICE: Final = {
    BuildStatus.STARTED: ("Workflow Build Started", NotificationKind.WEB_INFO, "started"),
    BuildStatus.COMPLETED: ("Workflow Build Completed", NotificationKind.WEB_SUCCESS, "completed"),
    BuildStatus.FAILED: ("Workflow Build Failed", NotificationKind.WEB_ALERT, "failed"),
}
_JOB_EVENTS: Final = {
    JobStatus.COMPLETED: WebhookEvent.JOB_COMPLETED,
    JobStatus.FAILED: WebhookEvent.JOB_FAILED,
    JobStatus.CANCELED: WebhookEvent.JOB_CANCELED,
}


def quoted(name: str) -> str:
    return f"“{name}”"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _because(reason: str | None) -> str:
    if not reason:
        return "."
    short = reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"
    return f": {short}"


def job_action_url(workflow_id: str, job_id: str) -> str:
    return f"/workflows/{workflow_id}/jobs/{job_id}"


def workflow_action_url(workflow_id: str) -> str:
    return f"/workflows/{workflow_id}"


def notification_for(event: Event) -> Draft:
    """The notification an event causes (one per user and cause)."""
    if isinstance(event, JobEnded):
        return _job_notice(event)
    if isinstance(event, BuildChanged):
        title, kind, verb = _BUILD_NOTICE[event.status]
        why = _because(event.reason) if event.status == BuildStatus.FAILED else "."
        return Draft(
            user_id=event.user_id,
            cause=f"build:{event.workflow_id}:{event.generation}:{event.status.value}",
            kind=kind,
            title=title,
            message=f"The build of workflow {quoted(event.workflow_name)} {verb}{why}",
            entity_type=EntityType.WORKFLOW,
            entity_id=event.workflow_id,
            action_url=workflow_action_url(event.workflow_id),
        )
    if isinstance(event, WorkflowTerminated):
        return _terminated_notice(event)
    return Draft(
        user_id=event.user_id,
        cause=f"webhook:{event.webhook_id}:disabled:{format_ts(event.since)}",
        kind=NotificationKind.WEB_ALERT,
        title="Webhook Disabled",
        message=f"The webhook to {event.host} was disabled after "
        f"{_count(event.failures, 'failed attempt')} in a row since {format_ts(event.since)}; "
        "enable it again with PATCH "
        '{"enabled": true} once the receiver works.',
        entity_type=EntityType.WEBHOOK,
        entity_id=event.webhook_id,
        action_url=f"/webhooks/{event.webhook_id}",
    )


def _job_notice(event: JobEnded) -> Draft:
    job = event.job
    title, kind, verb = _JOB_NOTICE[job.status]
    why = _because(job.failure_reason) if job.status == JobStatus.FAILED else "."
    return Draft(
        user_id=job.user_id,
        cause=f"job:{job.id}:{job.status.value}",
        kind=kind,
        title=title,
        message=f"A job of workflow {quoted(event.workflow_name)} {verb}{why}",
        entity_type=EntityType.JOB,
        entity_id=job.id,
        action_url=job_action_url(job.workflow_id, job.id),
    )


def _terminated_notice(event: WorkflowTerminated) -> Draft:
    name = quoted(event.workflow_name)
    if event.failures is None:
        kind, message = NotificationKind.WEB_INFO, f"Workflow {name} was terminated by its owner."
    else:
        kind = NotificationKind.WEB_ALERT
        message = (
            f"Workflow {name} was terminated after {_count(event.failures, 'failed job')} in a "
            "row; replace it (PUT) to run it again."
        )
    return Draft(
        user_id=event.user_id,
        cause=f"terminated:{event.workflow_id}:{format_ts(event.at)}",
        kind=kind,
        title="Workflow Terminated",
        message=message,
        entity_type=EntityType.WORKFLOW,
        entity_id=event.workflow_id,
        action_url=workflow_action_url(event.workflow_id),
    )


def webhook_event_of(event: Event) -> WebhookEvent | None:
    """The webhook event type an event is, or None when webhooks do not hear of it."""
    if isinstance(event, JobEnded):
        return _JOB_EVENTS[event.job.status]
    if isinstance(event, BuildChanged) and event.status == BuildStatus.FAILED:
        return WebhookEvent.BUILD_FAILED
    if isinstance(event, WorkflowTerminated):
        return WebhookEvent.TERMINATED
    return None


def cause_of(event: Event) -> str:
    """The event's unique key (also the key of its webhook deliveries)."""
    return notification_for(event).cause
