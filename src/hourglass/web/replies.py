"""HTTP responses for `Reply` results of idempotent use cases (replays are marked)."""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response

from hourglass.services.idempotency import Reply


def reply_response(reply: Reply) -> Response:
    """The reply as sent the first time; a replay carries `Idempotent-Replayed: true`."""
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
    if reply.body is None:
        return Response(status_code=reply.status, headers=headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)
