"""EC2 actions called in-process over a test ComputeEnv, past the signature (tested on a live
server in tests/api/test_ec2.py): the parameters checked and the action run as
kumo.ec2.service.dispatch runs them, the body in Amazon's XML read back."""

from __future__ import annotations

import time
from typing import Any

from lxml import etree

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.ec2 import xml
from kumo.ec2.call import Call, find
from kumo.ec2.errors import from_kumo
from kumo.ec2.query import Params
from kumo.errors import KumoError

NS = {"ec2": xml.NAMESPACE.format(version="2016-11-15")}
META = "openstack/latest/meta_data.json"


def run(env: ComputeEnv, ctx: RequestContext, action: str, **params: str) -> dict[str, Any]:
    """The action's answer body (plain values, before XML)."""
    import kumo.ec2.actions  # noqa: F401

    p = Params({"Action": action, **params})
    act = find(action)
    p.check_known(act.params)
    try:
        return act.handler(Call(env, ctx, p, "http://127.0.0.1:8774/ec2"))
    except KumoError as e:  # as kumo.api.routers.ec2 answers it
        raise from_kumo(e) from e


def as_xml(action: str, body: dict[str, Any]) -> etree._Element:
    return etree.fromstring(xml.response(action, "2016-11-15", "req-1", body))


def built(env: ComputeEnv, ctx: RequestContext, ref: str, timeout: float = 60) -> dict[str, Any]:
    """The server (by EC2 id or uuid) once its background build is over (ACTIVE or ERROR)."""
    from kumo.compute import servers

    deadline = time.monotonic() + timeout
    while True:
        view = servers.show_server(env, ctx, ref)
        if view["status"] in ("ACTIVE", "ERROR") or time.monotonic() > deadline:
            return view
        time.sleep(0.05)
