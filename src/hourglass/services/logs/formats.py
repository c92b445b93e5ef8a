"""What the bytes of a log download or a live event stream are: formats and their options,
JSON entries, SSE frames, and the error text shown once a body has started.

Pure formatting over chunks; `download` and `live` do the reading.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from hourglass.domain.jobs import Job
from hourglass.domain.logs.chunks import Chunk, decode_meta
from hourglass.domain.logs.lines import Streams, format_epoch_us
from hourglass.domain.logs.render import json_line_indices, strip_ansi
from hourglass.domain.logs.search import LogQuery, compile_query
from hourglass.errors import HourglassError, ValidationError
from hourglass.services.logs.params import DownloadParams, parse_choice, parse_flag, parse_stream

log = logging.getLogger("hourglass.logreads")

FETCH_ERROR: Final = "failed to fetch logs"
SSE_RETRY_MS: Final = 3000

# `json.encoder.encode_basestring` is the C string encoder behind `json.dumps(..., ensure_ascii=
# False)`: a JSON string literal, quotes included.
_json_str: Callable[[str], str] = json.encoder.encode_basestring


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# options


class Format(StrEnum):
    TXT = "txt"
    JSONL = "jsonl"
    JSON = "json"


_MEDIA: Final = {
    Format.TXT: "text/plain; charset=utf-8",
    Format.JSONL: "application/x-ndjson; charset=utf-8",
    Format.JSON: "application/json",
}


@dataclass(frozen=True, slots=True)
class DownloadOptions:
    format: Format = Format.TXT
    stream: Streams | None = None
    query: LogQuery | None = None
    timestamps: bool = False
    ansi_strip: bool = False

    @property
    def plain(self) -> bool:
        """Unfiltered `txt`: the stored bytes as they are (a fixed sequence for a finished job)."""
        return (
            self.format is Format.TXT
            and self.stream is None
            and self.query is None
            and not self.timestamps
            and not self.ansi_strip
        )

    @classmethod
    def parse(cls, params: DownloadParams) -> DownloadOptions:
        """Options from raw parameters; `ValidationError` naming the first bad one."""
        fmt = parse_choice("format", params.format, Format, None) or Format.TXT
        stream = parse_stream(params.stream)
        regex = parse_flag("regex", params.regex)
        case_sensitive = parse_flag("case_sensitive", params.case_sensitive)
        timestamps = parse_flag("timestamps", params.timestamps)
        ansi = (params.ansi or "keep").lower()
        if ansi not in ("keep", "strip"):
            raise ValidationError.field("ansi", "must be one of keep, strip")
        query = None
        if params.q:
            query = compile_query(params.q, regex=regex, case_sensitive=case_sensitive)
        return cls(fmt, stream, query, timestamps, ansi == "strip")


@dataclass(frozen=True, slots=True)
class Download:
    """A checked download: the finished job and what to send of its log."""

    job: Job
    options: DownloadOptions

    @property
    def media_type(self) -> str:
        return _MEDIA[self.options.format]

    @property
    def filename(self) -> str:
        return f"{self.job.id}-logs.{self.options.format.value}"

    @property
    def length(self) -> int | None:
        """Size in bytes when known in advance: unfiltered `txt` only."""
        return self.job.log_bytes if self.options.plain else None

    @property
    def etag(self) -> str | None:
        """Strong validator of the unfiltered `txt` bytes (quoted), None for other variants."""
        if not self.options.plain:
            return None
        job = self.job
        return f'"{job.id}-{job.log_lines}-{job.log_bytes}"'

    @property
    def last_modified(self) -> datetime | None:
        return self.job.completed_at if self.options.plain else None

    def failure_tail(self, exc: BaseException) -> bytes:
        """What ends the body when reading fails after the first byte, in the download's format."""
        text = describe(exc)
        fmt = self.options.format
        if fmt is Format.TXT:
            return f"\n--- ERROR: {FETCH_ERROR} ---\n{text}\n".encode()
        if fmt is Format.JSONL:
            return (_compact({"error": FETCH_ERROR, "message": text}) + "\n").encode()
        return f'],"error":{_json_str(FETCH_ERROR)},"message":{_json_str(text)}}}\n'.encode()


@dataclass(frozen=True, slots=True)
class EventTarget:
    """A checked live stream: the job and the sequence number to resume after."""

    job: Job
    after: int
    streams: Streams | None = None  # lines of these streams only (None: all)


def describe(exc: BaseException) -> str:
    """The error text shown to a reader once the body has started (no internals leak)."""
    if isinstance(exc, HourglassError):
        return exc.message
    log.error("reading a job log failed", exc_info=exc)
    return "internal error"


# formatting


def _run_messages(text: bytes) -> list[str]:
    messages = text.decode("utf-8", "replace").split("\n")
    messages.pop()  # every line ends with "\n"
    return messages


def _run_text(segment: bytes, strip: bool) -> str:
    """A run's lines as text (each ending with `\\n`), ANSI-stripped if asked (stripping
    never crosses a line end, so a whole run is stripped at once)."""
    text = segment.decode("utf-8", "replace")
    return strip_ansi(text) if strip else text


def json_entries(job_id: str, chunk: Chunk, options: DownloadOptions) -> list[str]:
    """The `jsonl`/`json` entries of a chunk's lines kept by `options` (one JSON object each).

    The download asks this of every line of a log: the per-line work is one f-string; which
    lines are JSON is found for a whole run at once (`json_line_indices`).
    """
    out: list[str] = []
    query, stream, strip = options.query, options.stream, options.ansi_strip
    for run in decode_meta(chunk.meta, len(chunk.text)):
        if stream is not None and run.stream not in stream:
            continue
        segment = chunk.text[run.byte_start : run.byte_end]
        base = chunk.first_seq + run.first_index
        text = _run_text(segment, strip)
        messages = text.split("\n")
        messages.pop()  # every line ends with "\n"
        picked: Iterable[int] = range(len(messages))
        if query is not None:
            picked = query.matching_lines(segment)
        valid = json_line_indices(text)
        head = f'{{"timestamp":"{format_epoch_us(run.ts_us)}","sequence_num":'
        mid = f',"stream":"{run.stream.value}","attempt":{run.attempt},"event_id":"{job_id}:'
        for i in picked:
            seq, message = base + i, messages[i]
            if i in valid:
                # valid JSON text: embedded as written (exact numbers, key order)
                out.append(
                    f'{head}{seq}{mid}{seq}","message_raw":{_json_str(message)}'
                    f',"message_json":{message}}}'
                )
            else:
                out.append(f'{head}{seq}{mid}{seq}","message_raw":{_json_str(message)}}}')
    return out


def sse_frame(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {_compact(data)}\n\n".encode()


def sse_log_frames(
    job_id: str, chunk: Chunk, after: int = 0, streams: Streams | None = None
) -> bytes:
    """`id:`/`event: log`/`data:` frames of the chunk's lines after `after` (API line objects),
    of `streams` only if given."""
    parts: list[str] = []
    for run in decode_meta(chunk.meta, len(chunk.text)):
        base = chunk.first_seq + run.first_index
        if base + run.count - 1 <= after or (streams is not None and run.stream not in streams):
            continue
        messages = _run_messages(chunk.text[run.byte_start : run.byte_end])
        skip = max(0, after + 1 - base)
        mid = f',"timestamp":"{format_epoch_us(run.ts_us)}","stream":"{run.stream.value}"'
        end = f',"attempt":{run.attempt},"event_id":"{job_id}:'
        parts += [
            f'id: {s}\nevent: log\ndata: {{"sequence_num":{s}{mid},"message":{_json_str(m)}'
            f'{end}{s}"}}\n\n'
            for s, m in zip(range(base + skip, base + run.count), messages[skip:], strict=True)
        ]
    return "".join(parts).encode()
