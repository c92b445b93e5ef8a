"""`hourglass logs`, `hourglass search`, `hourglass download`: a job's log in a terminal."""

from __future__ import annotations

import click

from hourglass.cli.client.common import api, handled, json_option

STREAM = click.Choice(["stdout", "stderr", "system"], case_sensitive=False)


@click.command()
@click.argument("workflow_id")
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Follow a pending or running job to its end.")
@click.option("--tail", "-n", type=click.IntRange(0), metavar="N", help="Only the last N lines.")
@click.option("--head", type=click.IntRange(0), metavar="N", help="Only the first N lines.")
@click.option("--since", type=click.IntRange(0), metavar="SEQ", help="Only lines after line SEQ.")
@click.option("--stream", type=STREAM, help="Only this stream.")
@click.option("--attempt", type=click.IntRange(1), metavar="N", help="Only this attempt's lines.")
@click.option("--timestamps", "-t", is_flag=True, help="Prefix each line with its time.")
@click.option(
    "--failed", is_flag=True, help="The error lines of the log summary (first error named)."
)
@click.option(
    "--color/--no-color",
    "colour",
    default=None,
    help="Keep the job's ANSI colours (default: on a terminal, unless NO_COLOR).",
)
@handled
def logs(
    workflow_id: str,
    job_id: str,
    follow: bool,
    tail: int | None,
    head: int | None,
    since: int | None,
    stream: str | None,
    attempt: int | None,
    timestamps: bool,
    failed: bool,
    colour: bool | None,
) -> None:
    """Print a job's log: the download's bytes, streamed. With --follow, print new lines as
    they are written until the job ends, then exit 0 (completed), 1 (failed) or 2 (canceled).

    \b
    Example:
      hourglass logs 01JGXYZ5V8T3K9Q2M4N6P7R8S0 01JGXZ0AB4C5D6E7F8G9H0J1K2 -f
      hourglass logs WID JID --tail 100 --stream stderr
      hourglass logs WID JID --failed
      hourglass logs WID JID > job.log
    """
    from hourglass.client import logview
    from hourglass.client.output import colour_allowed

    if head is not None and tail is not None:
        raise click.UsageError("--head and --tail do not go together")
    if follow and (head is not None or failed):
        raise click.UsageError("--follow goes with --tail and --since, not --head or --failed")
    options = logview.Options(
        follow=follow,
        tail=tail,
        head=head,
        since=since,
        stream=stream.lower() if stream else None,
        attempt=attempt,
        timestamps=timestamps,
        failed=failed,
        keep_ansi=colour_allowed() if colour is None else colour,
    )
    with api() as client:
        code = logview.show(client, workflow_id, job_id, options)
    click.get_current_context().exit(int(code))


@click.command(short_help="Search a job's log on the server.")
@click.argument("workflow_id")
@click.argument("job_id")
@click.argument("pattern")
@click.option("--regex", "-E", is_flag=True, help="PATTERN is a regular expression.")
@click.option("--case-sensitive", "-s", is_flag=True, help="Match case (default: ignore it).")
@click.option(
    "--context", "-C", type=click.IntRange(0, 1000), default=0, help="Lines around each match."
)
@click.option("--stream", type=click.Choice(["stdout", "stderr"], case_sensitive=False))
@click.option("--count", "-c", is_flag=True, help="Print only the number of matching lines.")
@json_option
@handled
def search(
    workflow_id: str,
    job_id: str,
    pattern: str,
    regex: bool,
    case_sensitive: bool,
    context: int,
    stream: str | None,
    count: bool,
    as_json: bool,
) -> None:
    """Search a job's log on the server: matching lines with their line numbers (hits
    highlighted on a terminal), context lines on request, then the exact total.

    \b
    Example:
      hourglass search WID JID timeout
      hourglass search WID JID 'err(or)?\\b' --regex -C 2
      hourglass search WID JID ERROR --case-sensitive --count
    """
    from hourglass.client import logview

    if not pattern:
        raise click.BadParameter("must not be empty", param_hint="PATTERN")
    query = logview.Query(pattern, regex, case_sensitive, stream.lower() if stream else None)
    with api() as client:
        logview.search(client, workflow_id, job_id, query, context, count, as_json)


@click.command(short_help="Download a finished job's log to a file.")
@click.argument("workflow_id")
@click.argument("job_id")
@click.option("--output", "-o", metavar="FILE", help="Where to write it (- = standard output).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["txt", "jsonl", "json"], case_sensitive=False),
    default="txt",
    show_default=True,
)
@click.option("--stream", type=click.Choice(["stdout", "stderr"], case_sensitive=False))
@click.option(
    "--continue", "-c", "resume", is_flag=True, help="Resume FILE.part of an interrupted download."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@handled
def download(
    workflow_id: str,
    job_id: str,
    output: str | None,
    fmt: str,
    stream: str | None,
    resume: bool,
    quiet: bool,
) -> None:
    """Download a finished job's log to a file (default: JOB_ID-logs.txt), with a progress
    bar on a terminal. The file appears complete or not at all: it is written as FILE.part and
    renamed at the end; --continue resumes an interrupted one.

    \b
    Example:
      hourglass download WID JID
      hourglass download WID JID -o build.jsonl --format jsonl
      hourglass download WID JID -o big.log --continue
    """
    import sys

    from hourglass.client import download as dl
    from hourglass.client.errors import ClientError
    from hourglass.client.logs import job_path
    from hourglass.client.output import note

    request = dl.Request(
        path=job_path(workflow_id, job_id),
        job_id=job_id,
        format=fmt.lower(),
        stream=stream.lower() if stream else None,
        resume=resume,
        progress=sys.stderr.isatty() and not quiet and output != "-",
    )
    with api() as client:
        try:
            result = dl.download(client, request, output)
        except ClientError as exc:
            if exc.code.name == "SERVER" and output != "-":
                raise dl.keep_part_hint(exc, output, request) from None
            raise
    if result.target != "-":
        resumed = f", resumed at byte {result.resumed_from}" if result.resumed_from else ""
        note(f"saved {result.target} ({result.size} bytes{resumed})")
