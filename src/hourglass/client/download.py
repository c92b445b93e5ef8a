"""`hourglass download`: a finished job's log to a file, streamed, with a progress bar on a
terminal, written to `FILE.part` and renamed when complete.

`--continue` resumes `FILE.part` with `Range` and `If-Range`: the part's validator (the
download's ETag) is kept beside it in `FILE.part.etag` as soon as the headers arrive, so an
interrupted download can be resumed; if the log changed since, the server sends the whole log
(200) and the download starts over.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from hourglass.client.api import Api
from hourglass.client.errors import ClientError, Exit
from hourglass.client.logs import RAW_HEADERS, copy_body
from hourglass.client.output import note

EXTENSIONS = {"txt": "txt", "jsonl": "jsonl", "json": "json"}


@dataclass(frozen=True)
class Request:
    path: str  # the job's path
    job_id: str
    format: str = "txt"
    stream: str | None = None
    resume: bool = False
    progress: bool = False


@dataclass(frozen=True)
class Result:
    target: str
    size: int
    resumed_from: int  # bytes kept from the part file (0: from the start)


def default_name(job_id: str, fmt: str) -> str:
    """The server's own attachment name, `{job_id}-logs.{ext}` (an id is letters and digits:
    anything else is dropped, so a name never leaves the current folder)."""
    safe = "".join(c for c in job_id if c.isascii() and c.isalnum()) or "job"
    return f"{safe}-logs.{EXTENSIONS[fmt]}"


def download(api: Api, request: Request, target: str | None) -> Result:
    """Download to `target` (`-`: standard output); a `Result` once complete."""
    params = {"format": request.format}
    if request.stream:
        params["stream"] = request.stream
    if target == "-":
        return Result("-", _to_stdout(api, request, params), 0)
    dest = Path(target or default_name(request.job_id, request.format))
    if dest.is_dir():
        dest = dest / default_name(request.job_id, request.format)
    if not dest.parent.is_dir():
        raise ClientError(f"cannot write {dest}: no folder {dest.parent}", Exit.USAGE)
    part, tag = dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.etag")
    headers = dict(RAW_HEADERS)
    offset = _resume_point(part, tag) if request.resume else 0
    if offset:
        headers |= {"Range": f"bytes={offset}-", "If-Range": tag.read_text().strip()}
    elif request.resume:
        note(f"nothing to resume at {part}: downloading from the start")
    path = f"{request.path}/logs/raw"
    with api.stream("GET", path, params=params, headers=headers) as response:
        if response.status_code == 416 and offset:
            response.close()  # the part already holds every byte: the range starts at its end
            return _complete(part, tag, dest, offset, offset)
        if offset and response.status_code != 206:
            note("the log changed since the partial download: starting over")
            offset = 0
        _keep_validator(response, tag)
        size = _write(api, response, part, offset, request.progress)
    return _complete(part, tag, dest, size, offset)


def _resume_point(part: Path, tag: Path) -> int:
    try:
        size = part.stat().st_size
        valid = tag.read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return 0
    return size if size and valid.startswith('"') else 0


def _keep_validator(response: httpx.Response, tag: Path) -> None:
    """Remember the ETag of a resumable body (plain bytes of a fixed log) beside its part."""
    etag = response.headers.get("etag", "")
    resumable = response.headers.get("accept-ranges") == "bytes" and etag.startswith('"')
    if resumable:
        tag.write_text(etag + "\n")
    else:
        tag.unlink(missing_ok=True)


def _write(api: Api, response: httpx.Response, part: Path, offset: int, progress: bool) -> int:
    length = response.headers.get("content-length")
    total = offset + int(length) if length and length.isdigit() else None
    try:
        out = part.open("ab" if offset else "wb")
    except OSError as exc:
        raise ClientError(f"cannot write {part}: {exc.strerror or exc}", Exit.USAGE) from exc
    with out, _bar(progress, total, offset) as advance:
        return offset + copy_body(api, response, out, advance)


def _complete(part: Path, tag: Path, dest: Path, size: int, resumed_from: int) -> Result:
    part.replace(dest)
    tag.unlink(missing_ok=True)
    return Result(str(dest), size, resumed_from)


def _to_stdout(api: Api, request: Request, params: dict[str, str]) -> int:
    out: IO[bytes] = sys.stdout.buffer
    path = f"{request.path}/logs/raw"
    with api.stream("GET", path, params=params, headers=RAW_HEADERS) as response:
        size = copy_body(api, response, out)
    out.flush()
    return size


@contextlib.contextmanager
def _bar(show: bool, total: int | None, done: int) -> Iterator[Any]:
    """A rich progress bar on standard error (size, speed, ETA); a no-op when not shown."""
    if not show:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from hourglass.client.output import console

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console(stderr=True), transient=False) as bar:
        task = bar.add_task("download", total=total, completed=done)
        yield lambda n: bar.advance(task, n)


def keep_part_hint(exc: ClientError, target: str | None, request: Request) -> ClientError:
    """The error of an interrupted download, with how to resume it."""
    name = target or default_name(request.job_id, request.format)
    return ClientError(
        f"{exc.message} (the partial download is kept: rerun with --continue to resume {name})",
        exc.code,
    )
