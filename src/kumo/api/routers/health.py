"""GET /healthcheck: 200 when the database is reachable and migrated, else 503; both with a JSON
body giving the reasons and each host's state (up, down, unknown) and last contact."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/healthcheck")
def healthcheck(request: Request) -> JSONResponse:
    health = request.app.state.controller.health()
    return JSONResponse(health.body, status_code=200 if health.ok else 503)
