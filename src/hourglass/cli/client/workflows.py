"""`hourglass workflows list|show|create|edit|terminate|delete|run`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from hourglass.cli.client.common import api, handled, json_option

if TYPE_CHECKING:
    from hourglass.client.workflows import Flags

KIND = click.Choice(["heartbeat", "container", "command"], case_sensitive=False)


@click.group()
def workflows() -> None:
    """Workflows: what to run and when.

    \b
    Example:
      hourglass workflows create --name nightly --every 1d -- ./backup.sh
      hourglass workflows list
    """


@workflows.command(name="list", short_help="List workflows, newest first.")
@click.option("--query", "-q", help="Part of the name (case-insensitive).")
@click.option("--kind", type=KIND, help="Only this kind.")
@click.option("--terminated/--active", default=None, help="Only terminated / active ones.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--all", "everything", is_flag=True, help="Every workflow (all pages).")
@json_option
@handled
def list_workflows(
    query: str | None,
    kind: str | None,
    terminated: bool | None,
    limit: int,
    everything: bool,
    as_json: bool,
) -> None:
    """List workflows, newest first (a table; tab-separated when piped).

    \b
    Example:
      hourglass workflows list --kind heartbeat --active
      hourglass workflows list --all --json | jq -r '.[].id'
    """
    from hourglass.client import views

    filters = {
        "query": query,
        "kind": kind.upper() if kind else None,
        "terminated": None if terminated is None else str(terminated).lower(),
    }
    with api() as client:
        items = views.collect(client, "/workflows", "workflows", filters, limit, everything)
    views.show_workflows(items, as_json)


@workflows.command()
@click.argument("workflow_id")
@json_option
@handled
def show(workflow_id: str, as_json: bool) -> None:
    """Show one workflow.

    \b
    Example:
      hourglass workflows show 01JGXYZ5V8T3K9Q2M4N6P7R8S0
    """
    from hourglass.client import views

    with api() as client:
        workflow = client.get(views.workflow_path(workflow_id))
    views.show_workflow(workflow, as_json)


def definition_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags that say what a workflow runs and when (create and edit share them)."""
    options = [
        click.option(
            "--from", "from_file", metavar="FILE", help="YAML or JSON definition (- = stdin)."
        ),
        click.option("--name", help="The workflow's name."),
        click.option("--kind", type=KIND, help="Implied by --endpoint, --image or a command."),
        click.option("--every", metavar="SPAN", help="Run every 15m, 2h, 1d… (or minutes)."),
        click.option("--cron", metavar="EXPR", help="Run on a 5-field cron schedule (UTC)."),
        click.option("--endpoint", metavar="URL", help="HEARTBEAT: the URL to check."),
        click.option("--method", help="HEARTBEAT: GET, HEAD or POST."),
        click.option("--expect-status", type=int, help="HEARTBEAT: expected status code."),
        click.option(
            "--header",
            "headers",
            multiple=True,
            metavar="'NAME: VALUE'",
            help="HEARTBEAT: a request header (repeatable).",
        ),
        click.option("--image", help="CONTAINER: the image to run."),
        click.option("--cpus", type=float, help="CONTAINER: CPU limit."),
        click.option("--memory", help="CONTAINER: memory limit (512m, 1g)."),
        click.option("--workdir", help="COMMAND: working directory."),
        click.option(
            "--env", multiple=True, metavar="KEY=VALUE", help="Environment variable (repeatable)."
        ),
        click.option(
            "--secret",
            multiple=True,
            metavar="KEY[=VALUE]",
            help="Secret variable; KEY alone takes $KEY from this shell (repeatable).",
        ),
        click.option("--timeout", metavar="DURATION", help="Time limit: 90s, 5m, 1h30m."),
        click.option(
            "--max-failures",
            type=int,
            help="Failures in a row before it is terminated (default 3).",
        ),
        click.option(
            "--log-retention/--no-log-retention", default=None, help="Keep job logs after jobs end."
        ),
        click.option(
            "--retention-days",
            metavar="DAYS|none",
            help="Delete logs this many days after a job ends.",
        ),
        click.argument("cmd", nargs=-1, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _flags(given: dict[str, Any]) -> Flags:
    from hourglass.client import workflows as defs

    payload: dict[str, Any] = {
        "endpoint": given["endpoint"],
        "method": given["method"],
        "expected_status_code": given["expect_status"],
        "image": given["image"],
        "cpus": given["cpus"],
        "memory": given["memory"],
        "working_dir": given["workdir"],
        "timeout": given["timeout"],
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    if given["headers"]:
        payload["headers"] = defs.headers(given["headers"])
    if given["env"]:
        payload["env"] = defs.pairs(given["env"], "--env")
    if given["secret"]:
        payload["secrets"] = defs.pairs(given["secret"], "--secret", from_env=True)
    return defs.Flags(
        name=given["name"],
        kind=given["kind"].upper() if given["kind"] else None,
        every=given["every"],
        cron=given["cron"],
        max_failures=given["max_failures"],
        log_retention=given["log_retention"],
        retention_days=given["retention_days"],
        payload=payload,
        cmd=tuple(given["cmd"]),
    )


@workflows.command(short_help="Create a workflow from flags or a file.")
@definition_options
@json_option
@handled
def create(as_json: bool, from_file: str | None, **given: Any) -> None:
    """Create a workflow from flags, or from a file kept in a repository (flags win); prints
    its id. The command of a COMMAND workflow (or a CONTAINER's cmd) comes after `--`.

    \b
    Example:
      hourglass workflows create --name site --endpoint https://example.com/ --every 5m
      hourglass workflows create --name hello --every 1h -- echo hello
      hourglass workflows create --name etl --image alpine:3 --cron '0 3 * * *' -- sh -c 'date'
      hourglass workflows create --from workflows/nightly.yaml
    """
    from hourglass.client import views
    from hourglass.client import workflows as defs
    from hourglass.client.api import new_key

    base = defs.load_file(from_file) if from_file else {}
    body = defs.request_body(defs.apply(base, _flags(given)))
    with api() as client:
        made = client.json("POST", "/workflows", json=body, headers={"Idempotency-Key": new_key()})
    views.created(made["id"], as_json)


@workflows.command(short_help="Change a workflow (flags, a file or $EDITOR).")
@click.argument("workflow_id")
@definition_options
@handled
def edit(workflow_id: str, from_file: str | None, **given: Any) -> None:
    """Change a workflow: the flags given (or a file's fields) replace what they name, the rest
    is kept; with neither, opens the definition as YAML in $EDITOR. Re-activates a terminated
    workflow.

    \b
    Example:
      hourglass workflows edit 01JGXYZ5V8T3K9Q2M4N6P7R8S0 --every 30m
      hourglass workflows edit 01JGXYZ5V8T3K9Q2M4N6P7R8S0 --from nightly.yaml
      EDITOR=vim hourglass workflows edit 01JGXYZ5V8T3K9Q2M4N6P7R8S0
    """
    from hourglass.client import views
    from hourglass.client import workflows as defs
    from hourglass.client.api import new_key
    from hourglass.client.output import note

    flags = _flags(given)
    with api() as client:
        path = views.workflow_path(workflow_id)
        current = defs.from_api(client.get(path))
        if from_file or flags != defs.Flags():
            base = defs.overlay(current, defs.load_file(from_file)) if from_file else current
            wanted = defs.apply(base, flags)
        else:
            text = defs.to_yaml(current)
            edited = click.edit(text, extension=".yaml", require_save=True)
            if edited is None or edited == text:
                note("no changes")
                return
            wanted = defs.apply(defs.parse(edited, "the edited definition"), defs.Flags())
        body = defs.request_body(wanted)
        client.request("PUT", path, json=body, headers={"Idempotency-Key": new_key()})
    note(f"updated workflow {workflow_id}")


@workflows.command(short_help="Stop a workflow: no more runs.")
@click.argument("workflow_id")
@handled
def terminate(workflow_id: str) -> None:
    """Stop a workflow: no more runs; waiting jobs are canceled, running ones stopped.

    \b
    Example:
      hourglass workflows terminate 01JGXYZ5V8T3K9Q2M4N6P7R8S0
    """
    from hourglass.client import views
    from hourglass.client.output import note

    with api() as client:
        client.request("PATCH", views.workflow_path(workflow_id))
    note(f"terminated workflow {workflow_id}")


@workflows.command()
@click.argument("workflow_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (required when not on a terminal).")
@handled
def delete(workflow_id: str, yes: bool) -> None:
    """Delete a terminated workflow with its jobs and their logs.

    \b
    Example:
      hourglass workflows terminate 01JGXYZ5V8T3K9Q2M4N6P7R8S0
      hourglass workflows delete 01JGXYZ5V8T3K9Q2M4N6P7R8S0 --yes
    """
    import sys

    from hourglass.client import views
    from hourglass.client.errors import ClientError, Exit
    from hourglass.client.output import note

    if not yes:
        if not sys.stdin.isatty():
            raise ClientError("deleting needs --yes when not on a terminal", Exit.USAGE)
        if not click.confirm(f"Delete workflow {workflow_id}, its jobs and their logs?"):
            note("nothing deleted")
            return
    with api() as client:
        client.request("DELETE", views.workflow_path(workflow_id))
    note(f"deleted workflow {workflow_id}")


@workflows.command()
@click.argument("workflow_id")
@click.option("--follow", "-f", is_flag=True, help="Follow the job's log to its end.")
@click.option("--timestamps", is_flag=True, help="With --follow: prefix lines with their time.")
@json_option
@handled
def run(workflow_id: str, follow: bool, timestamps: bool, as_json: bool) -> None:
    """Run a workflow now (a MANUAL job); prints the job's id. Waits for a workflow that is
    still being built. With --follow, prints the log live and exits 0 when the job completed,
    1 when it failed, 2 when it was canceled.

    \b
    Example:
      hourglass workflows run 01JGXYZ5V8T3K9Q2M4N6P7R8S0 --follow
    """
    from hourglass.client import jobs, views
    from hourglass.client.logs import LineFormat
    from hourglass.client.output import colour_allowed

    with api() as client:
        job_id = jobs.schedule(client, workflow_id)
        if not follow:
            views.created(job_id, as_json)
            return
        views.note_job(workflow_id, job_id)
        fmt = LineFormat(timestamps=timestamps, strip_ansi=not colour_allowed())
        code = jobs.follow_to_end(client, workflow_id, job_id, fmt=fmt)
    click.get_current_context().exit(int(code))
