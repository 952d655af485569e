"""A live kumo serve with an EC2 setup: projects demo (alice) and other (bob) with EC2
credentials, images of each kind in demo, a flavor; boto3 clients and the AWS CLI pointed at
its /ec2 endpoint with those credentials, and raw signed requests sent through httpx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from tests.api.live import Live
from tests.ec2.signing import REGION, sign

BIN = Path(sys.executable).parent


@dataclass
class Ec2Cloud:
    live: Live
    creds: dict[str, dict]  # user -> ec2-credentials create output
    ids: dict[str, str]  # project/user names -> ids

    @property
    def endpoint(self) -> str:
        return f"{self.live.url}/ec2"

    def client(self, user: str = "alice"):
        c = self.creds[user]
        # no retries: a refused request is shown as refused, not sent again
        return boto3.client("ec2", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=c["access"], aws_secret_access_key=c["secret"],
                            config=Config(retries={"max_attempts": 1, "mode": "standard"}))

    def aws(self, *args: str, user: str = "alice") -> subprocess.CompletedProcess:
        """The AWS CLI (``aws ec2 ARGS --output json``) as ``user``."""
        c = self.creds[user]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": c["access"], "AWS_SECRET_ACCESS_KEY": c["secret"],
                    "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null",
                    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_MAX_ATTEMPTS": "1",
                    "HOME": str(self.live.base / "home"), "AWS_PAGER": ""})
        return subprocess.run([str(BIN / "aws"), "ec2", *args, "--endpoint-url", self.endpoint,
                               "--output", "json"], env=env, capture_output=True, text=True,
                              timeout=120)

    def aws_json(self, *args: str, user: str = "alice") -> dict:
        r = self.aws(*args, user=user)
        assert r.returncode == 0, f"aws ec2 {' '.join(args)}: {r.stderr}\n{self.live.tail()}"
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def send(self, prepared) -> httpx.Response:
        """A request signed by botocore (tests.ec2.signing.sign), sent as it is."""
        return httpx.request(prepared.method, prepared.url, headers=dict(prepared.headers),
                             content=prepared.body or b"", timeout=60)

    def signed(self, params: dict[str, str], user: str = "alice", **kw):
        c = self.creds[user]
        return sign(self.endpoint + "/", params, c["access"], c["secret"], **kw)

    def kumo_as(self, user: str, project: str, *args: str,
                roles: str = "member") -> subprocess.CompletedProcess:
        env = {**self.live.environ, "KUMO_USER_ID": self.ids[user],
               "KUMO_PROJECT_ID": self.ids[project], "KUMO_ROLES": roles}
        return subprocess.run([sys.executable, "-m", "kumo.cli.main", *args], env=env,
                              capture_output=True, text=True, timeout=120)


def setup(live: Live) -> Ec2Cloud:
    """EC2 credentials for alice (demo), bob (other) and rita (a reader of demo: tests.api.live), made in this process on the live
    server's database (as ``kumo ec2-credentials create`` makes them: tested in
    tests/identity)."""
    from kumo.compute.context import admin_context
    from kumo.compute.env import ComputeEnv
    from kumo.identity import ec2_credentials, service

    env = ComputeEnv.from_env(live.environ)
    try:
        ctx = admin_context()
        ids = {p["name"]: p["id"] for p in service.list_projects(env.db, ctx)}
        ids.update({u["name"]: u["id"] for u in service.list_users(env.db, ctx)})
        creds = {user: ec2_credentials.create(env.db, env.settings.credential_key_file, ctx,
                                              user, project)
                 for user, project in (("alice", "demo"), ("bob", "other"),
                                       ("rita", "demo"))}
    finally:
        env.close()
    return Ec2Cloud(live, creds, ids)


def env_as(live: Live, cloud: "Ec2Cloud", user: str, project: str, roles: tuple = ("member",)):
    """(ComputeEnv, RequestContext) of ``user`` in ``project`` on the live server's database,
    for setting up in this process what the CLI would (close the env when done)."""
    from kumo.compute.context import RequestContext
    from kumo.compute.env import ComputeEnv

    return (ComputeEnv.from_env(live.environ),
            RequestContext(cloud.ids[user], cloud.ids[project], roles))
