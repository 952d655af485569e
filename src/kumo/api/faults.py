"""Errors in OpenStack's shapes, one table from kumo's exceptions to HTTP.

Compute answers Nova's fault bodies (``{"itemNotFound": {"message": ..., "code": 404}}``):
novaclient reads the first value's ``message`` and crashes on a body whose value is not an
object. Identity and Image answer Keystone's ``{"error": {"code", "title", "message"}}``, which
keystoneauth and glanceclient (it joins every value's ``message``) both read.

Bad input is a 4xx naming what was wrong, never a 5xx: request validation errors (pydantic) are
400 naming the field; a body over ``max_request_body`` is 413. Only a failing host is a 5xx (503):
that is the cloud's trouble, not the caller's. Programming errors stay 500 with no details.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kumo.errors import (Forbidden, HostError, KumoError, NotFound, StateError, Unauthorized,
                         UserError)

log = logging.getLogger("kumo.api")

#: status -> (Nova's fault name, title)
FAULTS: dict[int, tuple[str, str]] = {
    400: ("badRequest", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("itemNotFound", "Not Found"),
    405: ("badMethod", "Method Not Allowed"),
    409: ("conflictingRequest", "Conflict"),
    406: ("notAcceptable", "Not Acceptable"),
    413: ("overLimit", "Request Entity Too Large"),
    415: ("badMediaType", "Unsupported Media Type"),
    500: ("computeFault", "Internal Server Error"),
    501: ("notImplemented", "Not Implemented"),
    503: ("serviceUnavailable", "Service Unavailable"),
}


class RequestTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"the request body is larger than {limit} bytes (max_request_body)")


def status_of(exc: KumoError) -> int:
    explicit = getattr(exc, "status", None)  # an API-only error carrying its own status
    if isinstance(explicit, int):
        return explicit
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, StateError):
        return 409
    if isinstance(exc, HostError):
        return 503
    if isinstance(exc, UserError):
        return 400
    return 500


def fault(request: Request, status: int, message: str) -> JSONResponse:
    if request.url.path == "/ec2" or request.url.path.startswith("/ec2/"):
        from kumo.api.routers import ec2  # EC2's clients read Amazon's XML errors only

        return ec2.fault(request, status, message)
    name, title = FAULTS.get(status, (f"error{status}", "Error"))
    if request.url.path.startswith("/compute"):
        body = {name: {"message": message, "code": status}}
    else:
        body = {"error": {"message": message, "code": status, "title": title}}
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = f'Keystone uri="{request.base_url}identity"'
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(KumoError)
    async def kumo_error(request: Request, exc: KumoError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return fault(request, status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return fault(request, 400, validation_message(exc.errors()))

    @app.exception_handler(RequestTooLarge)
    async def too_large(request: Request, exc: RequestTooLarge) -> JSONResponse:
        return fault(request, 413, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such resource: {request.method} {request.url.path}"
        return fault(request, exc.status_code, message)


def validation_message(errors: list[dict]) -> str:
    """pydantic's errors as one line: each field by its path, what was wrong, the value."""
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {value!r})"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}{shown}")
    return "invalid request: " + "; ".join(parts)


class BodyLimit:
    """ASGI middleware: refuse a request body over ``limit`` bytes (Content-Length or counted as
    it streams), except on paths for which ``unbounded(path)`` is true (image data uploads)."""

    def __init__(self, app, limit: int, unbounded) -> None:
        self.app, self.limit, self.unbounded = app, limit, unbounded

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.unbounded(scope["path"], scope["method"]):
            return await self.app(scope, receive, send)
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and value.isdigit() and int(value) > self.limit:
                return await self._refuse(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise RequestTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope, receive, send):
        request = Request(scope, receive)
        response = fault(request, 413, str(RequestTooLarge(self.limit)))
        await response(scope, receive, send)
