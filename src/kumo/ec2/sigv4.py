"""AWS Signature Version 4, verified on the server side.

The clients' side is botocore's (a test dependency: boto3 and the AWS CLI sign every request
the tests send). The verifier is kumo's own: no maintained Python library verifies SigV4
requests server-side (botocore only signs), so it is written here from the specification
(AWS IAM User Guide, "Create a signed AWS API request" / "Elements of an AWS API request
signature"), step by step:

    canonical request   METHOD \\n canonical URI \\n canonical query \\n canonical headers \\n
                        signed headers \\n hex(sha256(payload))
    string to sign      AWS4-HMAC-SHA256 \\n X-Amz-Date \\n scope \\n hex(sha256(canonical request))
    signing key         HMAC chain over "AWS4"+secret: date, region, service, "aws4_request"
    signature           hex(HMAC(signing key, string to sign)), compared in constant time

* canonical URI: the path as sent, dot segments removed, then URI-encoded once more (every
  service but S3 encodes the already-encoded path again);
* canonical query: each name and value decoded ('+' as a space) and re-encoded with the unreserved set
  A-Z a-z 0-9 - _ . ~ (space %20), sorted by name then value; X-Amz-Signature left out;
* canonical headers: the signed headers only (``host`` must be one), names lowercased, values
  trimmed with inner runs of spaces made one, repeated headers joined by commas;
* the request is signed in the Authorization header or, presigned, in the query string
  (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Signature,
  X-Amz-Expires).

Time: a request is accepted within ``SKEW`` (5 minutes, as AWS) of X-Amz-Date either way,
and a presigned one until X-Amz-Expires after it; otherwise RequestExpired.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_plus

from kumo.ec2.errors import Ec2Error, auth_failure

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "ec2"
SKEW = timedelta(minutes=5)
MAX_EXPIRES = 604800  # 7 days: the most a presigned request may be valid for (AWS)
_CREDENTIAL = re.compile(r"^([A-Za-z0-9]{1,128})/(\d{8})/([A-Za-z0-9-]{1,64})/([a-z0-9-]{1,32})"
                         r"/aws4_request$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Request:
    """What the verifier needs of an HTTP request, as received."""

    method: str
    #: the path exactly as sent (percent-encoded), without the query
    raw_path: str
    #: the query string exactly as sent
    raw_query: str
    #: (lowercase name, value) in the order received
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


@dataclass(frozen=True)
class Signature:
    """The signature a request carries and what it claims."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: datetime
    amz_text: str
    #: seconds a presigned request stays valid; None for the Authorization header
    expires: int | None

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"

    @property
    def valid_until(self) -> datetime:
        return self.amz_date + (timedelta(seconds=self.expires) if self.expires is not None
                                else SKEW)


def incomplete(message: str) -> Ec2Error:
    return Ec2Error("IncompleteSignature", message)


def parse(req: Request, query: dict[str, str]) -> Signature:
    """The signature in the Authorization header or the query string (``query``: the decoded
    query parameters); IncompleteSignature / MissingAuthenticationToken when there is none or
    it is malformed."""
    auth = req.header("authorization")
    if auth:
        if len(auth) > 1:
            raise incomplete("The request has more than one Authorization header")
        return _from_header(req, auth[0])
    if "X-Amz-Signature" in query or "X-Amz-Algorithm" in query:
        return _from_query(query)
    raise Ec2Error("MissingAuthenticationToken",
                   "Request must be signed with AWS Signature Version 4: an Authorization "
                   f"header ({ALGORITHM} Credential=..., SignedHeaders=..., Signature=...) or "
                   "the X-Amz-* query parameters", 401)


def _from_header(req: Request, value: str) -> Signature:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete(f"Unsupported Authorization algorithm {algorithm[:40]!r}: allowed "
                         f"{ALGORITHM} (Signature Version 4)")
    parts: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep or key in parts:
            raise incomplete(f"Authorization header is malformed near {part.strip()[:40]!r}: "
                             "expected Credential=..., SignedHeaders=..., Signature=...")
        parts[key] = val
    for key in ("Credential", "SignedHeaders", "Signature"):
        if key not in parts:
            raise incomplete(f"Authorization header requires '{key}' parameter")
    dates = req.header("x-amz-date")
    if dates:
        amz_text, amz = dates[0], _amz_date(dates[0])
    elif req.header("date"):
        amz = _http_date(req.header("date")[0])
        amz_text = amz.strftime(_AMZ_DATE)
    else:
        raise incomplete("Authorization header requires existence of either a 'X-Amz-Date' "
                         "or a 'Date' header")
    return _signature(parts["Credential"], parts["SignedHeaders"], parts["Signature"], amz,
                      amz_text, None)


def _from_query(query: dict[str, str]) -> Signature:
    for key in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders",
                "X-Amz-Signature"):
        if not query.get(key):
            raise incomplete(f"Presigned request requires the {key} parameter")
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise incomplete(f"X-Amz-Algorithm {query['X-Amz-Algorithm'][:40]!r} is not supported: "
                         f"allowed {ALGORITHM}")
    expires_text = query.get("X-Amz-Expires", str(int(SKEW.total_seconds())))
    if not expires_text.isdigit() or not 1 <= int(expires_text) <= MAX_EXPIRES:
        raise incomplete(f"X-Amz-Expires {expires_text[:20]!r} is invalid: allowed 1 to "
                         f"{MAX_EXPIRES} seconds")
    amz = _amz_date(query["X-Amz-Date"])
    return _signature(query["X-Amz-Credential"], query["X-Amz-SignedHeaders"],
                      query["X-Amz-Signature"], amz, query["X-Amz-Date"], int(expires_text))


def _signature(credential: str, signed: str, signature: str, amz: datetime, amz_text: str,
               expires: int | None) -> Signature:
    m = _CREDENTIAL.match(credential)
    if m is None:
        raise incomplete(f"Credential {credential[:100]!r} is malformed: expected "
                         "ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request")
    access, date, region, service = m.groups()
    names = tuple(signed.split(";"))
    if not signed or any(not n or n != n.lower() or n != n.strip() for n in names) \
            or list(names) != sorted(set(names)):
        raise incomplete(f"SignedHeaders {signed[:100]!r} is malformed: expected lowercase "
                         "header names, sorted, separated by ';'")
    if "host" not in names:
        raise incomplete("SignedHeaders must include 'host'")
    if not _SIGNATURE.match(signature):
        raise incomplete("Signature must be 64 lowercase hex digits")
    return Signature(access, date, region, service, names, signature, amz, amz_text, expires)


def _amz_date(text: str) -> datetime:
    try:
        return datetime.strptime(text, _AMZ_DATE).replace(tzinfo=timezone.utc)
    except ValueError:
        raise incomplete(f"X-Amz-Date {text[:40]!r} is malformed: expected the ISO 8601 basic "
                         "form YYYYMMDDTHHMMSSZ") from None


def _http_date(text: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise incomplete(f"Date header {text[:40]!r} is malformed: expected an HTTP date")
    return parsed.astimezone(timezone.utc)


def check_scope(sig: Signature, region: str) -> None:
    """The credential scope names this region, the ec2 service, and X-Amz-Date's day."""
    if sig.service != SERVICE:
        raise auth_failure(f"Credential should be scoped to correct service: '{SERVICE}' "
                           f"(got {sig.service!r})")
    if sig.region != region:
        raise auth_failure(f"Credential should be scoped to a valid region: '{region}' "
                           f"(got {sig.region!r})")
    if sig.date != sig.amz_date.strftime("%Y%m%d"):
        raise auth_failure(f"Date in Credential scope does not match YYYYMMDD from "
                           f"X-Amz-Date: {sig.date} against {sig.amz_text}")


def check_time(sig: Signature, now: datetime) -> None:
    """RequestExpired outside the accepted window (see the module docstring)."""
    if sig.amz_date - now > SKEW:
        raise Ec2Error("RequestExpired", f"Request is not yet valid: its X-Amz-Date "
                       f"{sig.amz_text} is more than 5 minutes ahead of the server's time "
                       f"{now.strftime(_AMZ_DATE)} (check the client's clock)")
    if now > sig.valid_until:
        raise Ec2Error("RequestExpired", f"Request has expired: X-Amz-Date {sig.amz_text} is "
                       f"more than {_window(sig)} before the server's time "
                       f"{now.strftime(_AMZ_DATE)} (check the client's clock; sign each "
                       "request anew)")


def _window(sig: Signature) -> str:
    return "5 minutes" if sig.expires is None else f"X-Amz-Expires={sig.expires} seconds"


# --- the canonical request and the signature -----------------------------------------------------

def uri_encode(text: str) -> str:
    """AWS's UriEncode: every byte but the unreserved A-Z a-z 0-9 - _ . ~ as %XY."""
    return quote(text, safe="-_.~")


def canonical_uri(raw_path: str) -> str:
    segments: list[str] = []
    for seg in (raw_path or "/").split("/")[1:]:
        if seg == "..":
            if segments:
                segments.pop()
        elif seg != ".":
            segments.append(seg)
    path = "/" + "/".join(segments)
    if raw_path.endswith(("/", "/.", "/..")) and not path.endswith("/"):
        path += "/"
    return quote(path, safe="/~")


def canonical_query(raw_query: str, presigned: bool) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else ():
        if not part:
            continue
        name, _, value = part.partition("=")
        # '+' is a space, as the parameters are read (parse_qsl): botocore signs a space
        # sent as '+' in the URL as %20
        name, value = unquote_plus(name), unquote_plus(value)
        if presigned and name == "X-Amz-Signature":
            continue
        pairs.append((uri_encode(name), uri_encode(value)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_headers(req: Request, names: tuple[str, ...]) -> str:
    lines = []
    for name in names:
        values = req.header(name)
        if not values:
            raise auth_failure(f"The signed header {name!r} is not in the request")
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(lines)


def canonical_request(req: Request, sig: Signature) -> str:
    return "\n".join([
        req.method.upper(), canonical_uri(req.raw_path),
        canonical_query(req.raw_query, sig.expires is not None),
        canonical_headers(req, sig.signed_headers), ";".join(sig.signed_headers),
        hashlib.sha256(req.body).hexdigest()])


def string_to_sign(sig: Signature, canonical: str) -> str:
    return "\n".join([ALGORITHM, sig.amz_text, sig.scope,
                      hashlib.sha256(canonical.encode()).hexdigest()])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def expected(req: Request, sig: Signature, secret: str) -> str:
    key = signing_key(secret, sig.date, sig.region, sig.service)
    return hmac.new(key, string_to_sign(sig, canonical_request(req, sig)).encode(),
                    hashlib.sha256).hexdigest()


def verify(req: Request, sig: Signature, secret: str) -> None:
    """AuthFailure unless the request's signature is the one its secret gives."""
    if not hmac.compare_digest(expected(req, sig, secret), sig.signature):
        raise auth_failure("AWS was not able to validate the provided access credentials: the "
                           "request signature does not match the one calculated from the "
                           "secret key of access key " + sig.access_key)
