"""kumo's SigV4 verifier against signatures botocore makes: what it accepts, what it refuses
and with which of Amazon's codes."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

import pytest

from kumo.ec2 import sigv4
from kumo.ec2.errors import Ec2Error
from tests.ec2.signing import REGION, as_received, sign

URL = "http://127.0.0.1:8774/ec2/"
KEY, SECRET = "AKIAEXAMPLEEXAMPLE00", "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3"
NOW = datetime(2026, 11, 28, 22, 0, 0, tzinfo=timezone.utc)
PARAMS = {"Action": "DescribeInstances", "Version": "2016-11-15",
          "Filter.1.Name": "tag:Name", "Filter.1.Value.1": "web server ~+*/é"}


def verify(prepared, secret: str = SECRET, now: datetime = NOW) -> sigv4.Signature:
    req = as_received(prepared)
    query = dict(parse_qsl(req.raw_query, keep_blank_values=True))
    sig = sigv4.parse(req, query)
    sigv4.check_scope(sig, REGION)
    sigv4.check_time(sig, now)
    sigv4.verify(req, sig, secret)
    return sig


@pytest.mark.parametrize("method, presign", [("POST", None), ("GET", None), ("GET", 300)],
                         ids=["form-body", "query-string", "presigned"])
def test_botocore_signatures_verify(method, presign):
    sig = verify(sign(URL, PARAMS, KEY, SECRET, when=NOW, method=method,
                      presign_expires=presign))
    assert (sig.access_key, sig.region, sig.service, sig.date) == (KEY, REGION, "ec2",
                                                                    "20261128")
    assert "host" in sig.signed_headers


@pytest.mark.parametrize("path", ["/ec2", "/ec2/", "/a%20b/./c/../ec2"],
                         ids=["no-slash", "slash", "encoded-and-dots"])
def test_paths_are_canonicalised_as_botocore_does(path):
    verify(sign(f"http://127.0.0.1:8774{path}", PARAMS, KEY, SECRET, when=NOW))


def _tamper(prepared, **changes):
    req = as_received(prepared)
    return dataclasses.replace(req, **changes)


@pytest.mark.parametrize("change", [
    {"body": b"Action=TerminateInstances&InstanceId.1=i-0123456789abcdef0&Version=2016-11-15"},
    {"raw_path": "/ec2/other"},
    {"method": "PUT"},
], ids=["body", "path", "method"])
def test_a_changed_request_is_authfailure(change):
    req = _tamper(sign(URL, PARAMS, KEY, SECRET, when=NOW), **change)
    sig = sigv4.parse(req, {})
    with pytest.raises(Ec2Error) as e:
        sigv4.verify(req, sig, SECRET)
    assert (e.value.code, e.value.status) == ("AuthFailure", 401)
    assert "signature does not match" in e.value.message


def test_a_changed_signed_header_is_authfailure():
    req = as_received(sign(URL, PARAMS, KEY, SECRET, when=NOW))
    headers = tuple((k, "127.0.0.1:9999" if k == "host" else v) for k, v in req.headers)
    req = dataclasses.replace(req, headers=headers)
    with pytest.raises(Ec2Error, match="signature does not match"):
        sigv4.verify(req, sigv4.parse(req, {}), SECRET)


def test_the_wrong_secret_is_authfailure():
    with pytest.raises(Ec2Error) as e:
        verify(sign(URL, PARAMS, KEY, "another-secret-another-secret-another-se", when=NOW))
    assert e.value.code == "AuthFailure"


@pytest.mark.parametrize("signed_at, ok", [
    (NOW - timedelta(minutes=4, seconds=59), True),
    (NOW - timedelta(minutes=5, seconds=1), False),
    (NOW + timedelta(minutes=4, seconds=59), True),
    (NOW + timedelta(minutes=5, seconds=1), False),
], ids=["4m59s-old", "5m01s-old", "4m59s-ahead", "5m01s-ahead"])
def test_timestamp_skew_over_five_minutes_is_requestexpired(signed_at, ok):
    prepared = sign(URL, PARAMS, KEY, SECRET, when=signed_at)
    if ok:
        verify(prepared)
        return
    with pytest.raises(Ec2Error) as e:
        verify(prepared)
    assert (e.value.code, e.value.status) == ("RequestExpired", 400)


def test_a_presigned_request_is_valid_for_its_expiry():
    prepared = sign(URL, PARAMS, KEY, SECRET, when=NOW, method="GET", presign_expires=3600)
    verify(prepared, now=NOW + timedelta(minutes=59))
    with pytest.raises(Ec2Error, match="X-Amz-Expires=3600"):
        verify(prepared, now=NOW + timedelta(minutes=61))


@pytest.mark.parametrize("region, service, message", [
    ("us-east-1", "ec2", "valid region: 'RegionOne'"),
    (REGION, "s3", "correct service: 'ec2'"),
], ids=["region", "service"])
def test_the_scope_must_name_this_region_and_ec2(region, service, message):
    with pytest.raises(Ec2Error) as e:
        verify(sign(URL, PARAMS, KEY, SECRET, when=NOW, region=region, service=service))
    assert e.value.code == "AuthFailure" and message in e.value.message


@pytest.mark.parametrize("authorization, code, words", [
    (None, "MissingAuthenticationToken", "must be signed"),
    ("AWS4-HMAC-SHA1 Credential=x", "IncompleteSignature", "Unsupported Authorization"),
    ("AWS4-HMAC-SHA256 Credential=AKIA/20261128/RegionOne/ec2/aws4_request", 
     "IncompleteSignature", "'SignedHeaders'"),
    ("AWS4-HMAC-SHA256 Credential=AKIA/2026/RegionOne/ec2/aws4_request, SignedHeaders=host, "
     "Signature=" + "0" * 64, "IncompleteSignature", "Credential"),
    ("AWS4-HMAC-SHA256 Credential=AKIA/20261128/RegionOne/ec2/aws4_request, "
     "SignedHeaders=x-amz-date, Signature=" + "0" * 64, "IncompleteSignature", "'host'"),
    ("AWS4-HMAC-SHA256 Credential=AKIA/20261128/RegionOne/ec2/aws4_request, "
     "SignedHeaders=host, Signature=zz", "IncompleteSignature", "64 lowercase hex"),
], ids=["none", "algorithm", "no-signed-headers", "bad-credential", "no-host", "bad-signature"])
def test_malformed_authorization_is_refused_with_its_code(authorization, code, words):
    headers = [("host", "127.0.0.1:8774"), ("x-amz-date", "20261128T220000Z")]
    if authorization:
        headers.append(("authorization", authorization))
    req = sigv4.Request("POST", "/ec2/", "", tuple(headers), b"")
    with pytest.raises(Ec2Error) as e:
        sigv4.parse(req, {})
    assert e.value.code == code and words in e.value.message


def test_the_date_in_the_scope_must_be_x_amz_dates_day():
    prepared = sign(URL, PARAMS, KEY, SECRET, when=NOW)
    req = as_received(prepared)
    headers = tuple((k, v.replace("20261128/", "20261127/") if k == "authorization" else v)
                    for k, v in req.headers)
    sig = sigv4.parse(dataclasses.replace(req, headers=headers), {})
    with pytest.raises(Ec2Error, match="does not match YYYYMMDD"):
        sigv4.check_scope(sig, REGION)
