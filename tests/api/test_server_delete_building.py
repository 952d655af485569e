"""The Compute API's DELETE of a server still in BUILD (kumo.compute.pending_delete), in
process on a FakeHost whose build is held at its image upload: 204 at once, as Nova answers,
the build stops and the server is gone -- nothing left on the host, no claim, no port."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import select

from kumo.api.app import create_app
from kumo.compute import naming
from kumo.db.models import Host, JournalEntry
from kumo.identity import service as identity
from kumo.serve.controller import Controller
from tests.compute.conftest import admin, env, fake_hosts, image_file  # noqa: F401
from tests.compute.fakehost import fake_cloud
from tests.db.fixtures import *  # noqa: F401,F403

PASSWORD = "admin-secret-1"


def test_deleting_a_building_server_is_204_and_leaves_nothing(env, admin, image_file,  # noqa: F811
                                                              fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    reached, go = threading.Event(), threading.Event()

    def hold(call) -> None:
        if call.op == "upload_volume" and not reached.is_set():
            reached.set()
            assert go.wait(60)
    host.hooks.insert(0, hold)
    identity.bootstrap(env.db, PASSWORD)
    issued = identity.issue_password_token(env.db, "admin", PASSWORD, None, "admin")
    client = TestClient(create_app(Controller(env.settings, env)))
    client.headers["X-Auth-Token"] = issued.token
    images = client.get("/image/v2/images").json()["images"]
    [image] = [i["id"] for i in images if i["name"] == "linux"]
    r = client.post("/compute/v2.1/servers", json={"server": {
        "name": "web", "imageRef": image, "flavorRef": "tiny", "networks": "none"}},
        headers={"OpenStack-API-Version": "compute 2.37"})
    assert r.status_code == 202, r.text
    uuid = r.json()["server"]["id"]
    assert reached.wait(60)
    assert client.get(f"/compute/v2.1/servers/{uuid}").json()["server"]["status"] == "BUILD"
    r = client.delete(f"/compute/v2.1/servers/{uuid}")
    assert r.status_code == 204, r.text
    go.set()
    for thread in threading.enumerate():
        if thread.name.startswith(("build-", "delete-")):
            thread.join(60)
    assert client.get(f"/compute/v2.1/servers/{uuid}").status_code == 404
    with env.db.session_scope(readonly=True) as s:
        ops = [(e.operation, e.state) for e in s.scalars(select(JournalEntry).where(
            JournalEntry.instance_uuid == uuid).order_by(JournalEntry.id))]
        counters = s.scalars(select(Host)).one()
        assert (counters.instance_count, counters.used_vcpus) == (0, 0)
    assert ops == [("create", "rolled-back"), ("delete", "done")]
    assert naming.domain_name(uuid) not in host.domains
    assert set(naming.instance_volumes(uuid)) & host.volumes(env.pool_name) == set()
