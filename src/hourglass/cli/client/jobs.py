"""`hourglass jobs list|show|cancel`."""

from __future__ import annotations

import click

from hourglass.cli.client.common import api, handled, json_option

STATUS = click.Choice(
    ["pending", "queued", "running", "completed", "failed", "canceled"], case_sensitive=False
)


@click.group()
def jobs() -> None:
    """Jobs: the runs of a workflow.

    \b
    Example:
      hourglass jobs list 01JGXYZ5V8T3K9Q2M4N6P7R8S0 --status failed
    """


@jobs.command(name="list", short_help="List a workflow's jobs, newest first.")
@click.argument("workflow_id")
@click.option("--status", type=STATUS, help="Only jobs in this status.")
@click.option(
    "--trigger",
    type=click.Choice(["automatic", "manual"], case_sensitive=False),
    help="Only these.",
)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--all", "everything", is_flag=True, help="Every job (all pages).")
@json_option
@handled
def list_jobs(
    workflow_id: str,
    status: str | None,
    trigger: str | None,
    limit: int,
    everything: bool,
    as_json: bool,
) -> None:
    """List a workflow's jobs, newest first (a table; tab-separated when piped).

    \b
    Example:
      hourglass jobs list 01JGXYZ5V8T3K9Q2M4N6P7R8S0 --status failed --limit 5
      hourglass jobs list 01JGXYZ5V8T3K9Q2M4N6P7R8S0 --json | jq -r '.[0].id'
    """
    from hourglass.client import views

    filters = {
        "status": status.upper() if status else None,
        "trigger": trigger.upper() if trigger else None,
    }
    path = f"{views.workflow_path(workflow_id)}/jobs"
    with api() as client:
        items = views.collect(client, path, "jobs", filters, limit, everything)
    views.show_jobs(items, as_json)


@jobs.command()
@click.argument("workflow_id")
@click.argument("job_id")
@json_option
@handled
def show(workflow_id: str, job_id: str, as_json: bool) -> None:
    """Show one job: status, exit code, failure reason, times, log size.

    \b
    Example:
      hourglass jobs show 01JGXYZ5V8T3K9Q2M4N6P7R8S0 01JGXZ0AB4C5D6E7F8G9H0J1K2
    """
    from hourglass.client import views
    from hourglass.client.logs import get_job

    with api() as client:
        job = get_job(client, workflow_id, job_id)
    views.show_job(job, as_json)


@jobs.command(short_help="Cancel a waiting or running job.")
@click.argument("workflow_id")
@click.argument("job_id")
@json_option
@handled
def cancel(workflow_id: str, job_id: str, as_json: bool) -> None:
    """Cancel a waiting or running job (a running one is stopped: SIGTERM, then SIGKILL).

    \b
    Example:
      hourglass jobs cancel 01JGXYZ5V8T3K9Q2M4N6P7R8S0 01JGXZ0AB4C5D6E7F8G9H0J1K2
    """
    from hourglass.client import views
    from hourglass.client.logs import job_path
    from hourglass.client.output import note

    with api() as client:
        job = client.json("POST", f"{job_path(workflow_id, job_id)}/cancel")
    if as_json:
        views.show_job(job, True)
    else:
        note(f"job {job_id}: {str(job.get('status', 'canceling')).lower()}")
