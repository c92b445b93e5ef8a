"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hourglass.errors import StoreUnavailable
from hourglass.web.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


_UNAVAILABLE = {
    "description": "The store is unreachable",
    "content": {
        "application/json": {
            "example": {"status": "unavailable", "detail": "store unavailable: …"},
        }
    },
}


@router.get("/readyz", response_model=None, responses={503: _UNAVAILABLE})
async def readyz(services: ServicesDep) -> JSONResponse:
    """The store is reachable."""
    try:
        await services.db.ping()
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "detail": exc.message}, status_code=503)
    return JSONResponse({"status": "ok"})
