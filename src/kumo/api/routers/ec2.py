"""``/ec2``: the EC2 Query API (kumo.ec2) on kumo serve's port.

One endpoint takes every action, as EC2's does: ``GET /ec2?Action=...`` or ``POST /ec2`` with a
form body, signed with AWS Signature Version 4 by an EC2 credential (``kumo ec2-credentials
create``). The order of checks is Amazon's: the signature (who asks, is it intact, is it
fresh, was it seen before), then the action and its parameters, then what the caller may do.
Every answer is XML in Amazon's shapes; every refusal an Amazon error code, a client's mistake
never a 5xx.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from kumo.api.auth import env_of
from kumo.errors import KumoError

log = logging.getLogger("kumo.api.ec2")

router = APIRouter(tags=["ec2"])

XML = "text/xml;charset=UTF-8"
FORM = "application/x-www-form-urlencoded"


@router.api_route("/ec2", methods=["GET", "POST"], include_in_schema=False)
@router.api_route("/ec2/", methods=["GET", "POST"], include_in_schema=False)
async def ec2(request: Request) -> Response:
    body = await request.body()
    scope = request.scope
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return await run_in_threadpool(
        handle, request, raw_path.decode("latin-1"), scope.get("query_string", b""), body)


def handle(request: Request, raw_path: str, raw_query: bytes, body: bytes) -> Response:
    from kumo.ec2 import errors
    from kumo.ec2.service import Answer, dispatch
    from kumo.ec2.sigv4 import Request as SignedRequest

    request_id = str(uuid.uuid4())
    env = env_of(request)
    try:
        try:
            query = raw_query.decode("ascii")
            form = body.decode("utf-8") if _is_form(request) else ""
            pairs = parse_qsl(query, keep_blank_values=True, errors="strict") + \
                parse_qsl(form, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise errors.Ec2Error("MalformedQueryString",
                                  "The query string or form body is not valid UTF-8 "
                                  "application/x-www-form-urlencoded") from None
        signed = SignedRequest(request.method, raw_path, query,
                               tuple((k.decode("latin-1").lower(), v.decode("latin-1"))
                                     for k, v in request.scope["headers"]), body)
        answer: Answer = dispatch(env, signed, pairs, datetime.now(timezone.utc),
                                  str(request.base_url).rstrip("/") + "/ec2", request_id)
        return Response(answer.body, media_type=XML, headers={"x-amzn-RequestId": request_id})
    except errors.Ec2Error as e:
        return _error(e.code, e.message, e.status, request_id)
    except KumoError as e:
        err = errors.from_kumo(e)
        if err.status >= 500:
            log.warning("ec2 request %s: %s", request_id, e)
        return _error(err.code, err.message, err.status, request_id)
    except Exception:
        log.exception("ec2 request %s failed", request_id)
        return _error("InternalError", "An internal error has occurred", 500, request_id)


def _is_form(request: Request) -> bool:
    return request.method == "POST" and request.headers.get("content-type", FORM) \
        .split(";")[0].strip().lower() == FORM


def _error(code: str, message: str, status: int, request_id: str) -> Response:
    from kumo.ec2 import xml

    return Response(xml.error(code, message, request_id), status_code=status, media_type=XML,
                    headers={"x-amzn-RequestId": request_id})


def fault(request: Request, status: int, message: str) -> Response:
    """An HTTP-level refusal under /ec2 (body too large, a method or path EC2 has not) as an
    Amazon error, for kumo.api.faults."""
    code = {413: "RequestEntityTooLarge", 404: "InvalidAction", 405: "UnsupportedProtocol"} \
        .get(status, "InvalidRequest")
    return _error(code, message, status if status < 500 else 500, str(uuid.uuid4()))
