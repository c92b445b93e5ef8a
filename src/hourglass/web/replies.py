"""HTTP responses for `Reply` results of idempotent use cases (replays are marked), and JSON
bodies serialized once with orjson for the hot read routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response

from hourglass.services.idempotency import Reply


def reply_response(reply: Reply) -> Response:
    """The reply as sent the first time; a replay carries `Idempotent-Replayed: true`."""
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
    if reply.body is None:
        return Response(status_code=reply.status, headers=headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """`body` as application/json, encoded by orjson (UTF-8, no spaces; ~20x `json.dumps` on a
    page of log lines). Our strings never hold lone surrogates (input and captured text are
    checked or decoded with replacement), which orjson would refuse."""
    return Response(orjson.dumps(body), status_code, headers=headers, media_type="application/json")
