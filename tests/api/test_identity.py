"""Identity v3 against a live kumo serve, driven by the unmodified openstack client and by
plain HTTP for what the client does not show (headers, revocation, stored hashes)."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timezone

import httpx
import pytest

from tests.api.live import ADMIN_PASSWORD


def test_openstack_token_issue(live):
    token = live.openstack("token", "issue")
    assert set(token) >= {"id", "expires", "project_id", "user_id"}
    expires = datetime.fromisoformat(token["expires"].replace("Z", "+00:00"))
    left = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 3500 < left <= 3600  # token_expiration's default


def test_token_body_and_catalog(live):
    r = httpx.post(f"{live.url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "alice", "domain": {"id": "default"}, "password": "alice-secret-1"}}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}})
    assert r.status_code == 201
    body = r.json()["token"]
    assert body["user"]["name"] == "alice" and body["project"]["name"] == "demo"
    assert [role["name"] for role in body["roles"]] == ["member"]
    urls = {e["type"]: e["endpoints"][0]["url"] for e in body["catalog"]}
    assert urls == {"identity": f"{live.url}/identity", "image": f"{live.url}/image",
                    "compute": f"{live.url}/compute/v2.1", "kumo": f"{live.url}/kumo/v1",
                    "network": f"{live.url}/network"}
    assert body["expires_at"].endswith("Z")


def test_token_is_stored_hashed_and_revocable(live):
    token = live.token()
    db = sqlite3.connect(live.base / "data" / "kumo.db")
    hashes = {h for (h,) in db.execute("SELECT id_hash FROM tokens")}
    stored_pw = db.execute("SELECT password_hash FROM users WHERE name='admin'").fetchone()[0]
    db.close()
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert token not in hashes
    assert stored_pw.startswith("$argon2id$") and ADMIN_PASSWORD not in stored_pw
    h = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert httpx.get(f"{live.url}/identity/v3/auth/tokens", headers=h).status_code == 200
    assert httpx.delete(f"{live.url}/identity/v3/auth/tokens", headers=h).status_code == 204
    r = httpx.get(f"{live.url}/identity/v3/auth/tokens", headers=h)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == 401


def test_token_method_rescopes_within_the_same_user(live):
    token = live.token()
    r = httpx.post(f"{live.url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    assert r.status_code == 201
    assert r.headers["X-Subject-Token"] != token
    # alice holds no role on project admin: the token method cannot lift her there
    alice = live.token("alice", "alice-secret-1", "demo")
    r = httpx.post(f"{live.url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": alice}},
        "scope": {"project": {"name": "admin"}}}})
    assert r.status_code == 401


@pytest.mark.parametrize("body, status, words", [
    ({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "password": "wrong-password"}}}, "scope": {"project": {
            "name": "admin"}}}}, 401, "requires authentication"),
    ({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "nobody", "password": "whatever1"}}}}}, 401, "requires authentication"),
    ({"auth": {}}, 400, "auth.identity: Field required"),
    ({"auth": {"identity": {"methods": ["totp"]}}}, 400, "not supported"),
    ("not json", 400, "invalid request"),
], ids=["wrong-password", "unknown-user", "no-identity", "bad-method", "not-json"])
def test_bad_authentication_is_4xx_with_a_message(live, body, status, words):
    r = httpx.post(f"{live.url}/identity/v3/auth/tokens",
                   **({"json": body} if isinstance(body, dict) else {"content": body}))
    assert r.status_code == status
    assert words in r.json()["error"]["message"]


def test_request_body_is_bounded(live):
    r = httpx.post(f"{live.url}/identity/v3/auth/tokens", content=b"{" + b" " * 120000 + b"}",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "max_request_body" in r.json()["error"]["message"]


def test_version_documents(live):
    r = httpx.get(f"{live.url}/identity/v3")
    assert r.status_code == 200 and r.json()["version"]["id"] == "v3.14"
    r = httpx.get(f"{live.url}/identity")
    assert r.status_code == 300
    assert [v["id"] for v in r.json()["versions"]["values"]] == ["v3.14"]
