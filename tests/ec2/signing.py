"""Requests signed by botocore (the client side of SigV4 the tests trust), as kumo's verifier
receives them, and as httpx sends them to a live kumo serve."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kumo.ec2.sigv4 import Request

REGION = "RegionOne"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


@contextmanager
def clock(when: datetime | None):
    """botocore signing at ``when`` (aware UTC) instead of now."""
    if when is None:
        yield
        return
    naive = when.astimezone(timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive):
        yield


def sign(url: str, params: dict[str, str], access: str, secret: str, *,
         region: str = REGION, service: str = "ec2", when: datetime | None = None,
         method: str = "POST", presign_expires: int | None = None):
    """A prepared botocore request: ``method`` POST puts ``params`` in a form body, GET in
    the query string; ``presign_expires`` signs in the query string instead of the
    Authorization header."""
    creds = Credentials(access, secret)
    if method == "POST":
        req = AWSRequest(method="POST", url=url, data=params, headers={"Content-Type": FORM})
    else:
        req = AWSRequest(method=method, url=url, params=params)
    with clock(when):
        if presign_expires is not None:
            SigV4QueryAuth(creds, service, region, expires=presign_expires).add_auth(req)
        else:
            SigV4Auth(creds, service, region).add_auth(req)
    return req.prepare()


def as_received(prepared) -> Request:
    """The prepared request as kumo's verifier sees it arrive (with the Host header the HTTP
    client adds)."""
    parts = urlsplit(prepared.url)
    headers = [(k.lower(), v) for k, v in prepared.headers.items()]
    if not any(k == "host" for k, _ in headers):
        headers.append(("host", parts.netloc))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return Request(prepared.method, parts.path or "/", parts.query, tuple(headers), body)
