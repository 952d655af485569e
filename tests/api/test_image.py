"""Image v2 against a live kumo serve, driven by the unmodified openstack and glance clients."""

from __future__ import annotations

import hashlib
import subprocess

import httpx
import pytest


@pytest.fixture(scope="module")
def qcow2(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    return path


def _create(live, name, qcow2, *props, cloud="admin"):
    args = ["image", "create", "--disk-format", "qcow2", "--container-format", "bare",
            "--file", str(qcow2)]
    for p in props:
        args += ["--property", p]
    return live.openstack(*args, name, cloud=cloud)


def test_openstack_image_lifecycle(live, qcow2):
    created = _create(live, "cirros-life", qcow2, "os_type=linux", "release_date=2024-01-02")
    image_id = created["id"]
    shown = live.openstack("image", "show", "cirros-life")
    assert shown["id"] == image_id and shown["status"] == "active"
    assert shown["disk_format"] == "qcow2" and shown["size"] == qcow2.stat().st_size
    assert shown["properties"]["os_type"] == "linux"
    assert shown["properties"]["release_date"] == "2024-01-02"
    assert shown["checksum"] == hashlib.md5(qcow2.read_bytes()).hexdigest()

    names = [i["Name"] for i in live.openstack("image", "list")]
    assert "cirros-life" in names

    # set --property: the SDK sends "add" for a key that exists: it must replace
    live.openstack("image", "set", "--property", "os_type=windows", "--property",
                   "recommended=true", "cirros-life", json_out=False)
    props = live.openstack("image", "show", image_id)["properties"]
    assert (props["os_type"], props["recommended"]) == ("windows", "true")
    live.openstack("image", "unset", "--property", "recommended", "cirros-life", json_out=False)
    assert "recommended" not in live.openstack("image", "show", image_id)["properties"]

    live.openstack("image", "delete", "cirros-life", json_out=False)
    r = live.client("openstack", "image", "show", image_id)
    assert r.returncode != 0
    assert f"No Image found for {image_id}" in r.stderr


def test_glance_image_update_property(live, qcow2):
    """Seed 001's fix, typed as operators type it."""
    image_id = _create(live, "win-glance", qcow2, "os_type=linux")["id"]
    r = live.client("glance", "image-update", "--property", "os_type=windows", image_id)
    assert r.returncode == 0, r.stderr + live.tail()
    assert "windows" in r.stdout
    assert live.openstack("image", "show", image_id)["properties"]["os_type"] == "windows"
    r = live.client("glance", "image-list")
    assert r.returncode == 0 and image_id in r.stdout, r.stderr


def test_bad_property_value_is_400_naming_property_and_allowed_values(live, qcow2):
    image_id = _create(live, "bad-prop", qcow2)["id"]
    r = live.client("openstack", "image", "set", "--property", "hw_disk_bus=floppy", image_id)
    assert r.returncode != 0
    assert "hw_disk_bus='floppy' is invalid: allowed" in r.stderr
    assert "virtio" in r.stderr
    token = live.token()
    r = httpx.patch(f"{live.url}/image/v2/images/{image_id}", headers={
        "X-Auth-Token": token,
        "Content-Type": "application/openstack-images-v2.1-json-patch"},
        json=[{"op": "add", "path": "/hw_disk_bus", "value": "floppy"}])
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("hw_disk_bus='floppy' is invalid: allowed")


def test_list_filters_and_sorts_on_custom_properties(live, qcow2):
    ids = {}
    for name, date in (("rel-b", "2021-05-01"), ("rel-a", "2023-01-01"), ("rel-c", "2019-09-09")):
        ids[name] = _create(live, name, qcow2, f"release_date={date}", "family=relsort")["id"]
    token = live.token()
    r = httpx.get(f"{live.url}/image/v2/images", params={
        "family": "relsort", "sort_key": "release_date", "sort_dir": "desc"},
        headers={"X-Auth-Token": token})
    assert r.status_code == 200
    assert [i["name"] for i in r.json()["images"]] == ["rel-a", "rel-b", "rel-c"]
    r = httpx.get(f"{live.url}/image/v2/images",
                  params={"id": f"in:{ids['rel-a']},{ids['rel-c']}", "sort": "name:asc"},
                  headers={"X-Auth-Token": token})
    assert [i["name"] for i in r.json()["images"]] == ["rel-a", "rel-c"]


def test_data_download_streams_the_stored_bytes(live, qcow2):
    image_id = _create(live, "download-me", qcow2)["id"]
    token = live.token()
    with httpx.stream("GET", f"{live.url}/image/v2/images/{image_id}/file",
                      headers={"X-Auth-Token": token}) as r:
        assert r.status_code == 200
        data = b"".join(r.iter_bytes())
    assert data == qcow2.read_bytes()


def test_upload_of_data_that_is_not_its_disk_format_is_400_and_stays_queued(live, tmp_path):
    token = live.token()
    h = {"X-Auth-Token": token}
    r = httpx.post(f"{live.url}/image/v2/images", headers=h,
                   json={"name": "liar", "disk_format": "qcow2", "container_format": "bare"})
    assert r.status_code == 201
    image_id = r.json()["id"]
    r = httpx.put(f"{live.url}/image/v2/images/{image_id}/file", content=b"x" * 100000,
                  headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 400, r.text
    # the message names the data as the client knows it, not the server's temporary file
    assert r.json()["error"]["message"] == (
        "the uploaded data is not qcow2: qemu-img info reads it as raw; give disk_format=raw "
        "or the right file (nothing was stored)")
    assert httpx.get(f"{live.url}/image/v2/images/{image_id}",
                     headers=h).json()["status"] == "queued"


def test_another_projects_private_image_is_404(live, qcow2):
    image_id = _create(live, "alice-only", qcow2, cloud="alice")["id"]
    r = live.client("openstack", "image", "show", image_id, cloud="bob")
    assert r.returncode != 0
    assert image_id not in [i["ID"] for i in live.openstack("image", "list", cloud="bob")]
    bob = live.token("bob", "bob-secret-1", "other")
    r = httpx.get(f"{live.url}/image/v2/images/{image_id}", headers={"X-Auth-Token": bob})
    assert r.status_code == 404
    r = httpx.delete(f"{live.url}/image/v2/images/{image_id}", headers={"X-Auth-Token": bob})
    assert r.status_code == 404


@pytest.mark.parametrize("path", ["/image", "/image/versions"], ids=["root", "versions"])
def test_version_documents_are_200(live, path):
    r = httpx.get(f"{live.url}{path}")
    assert r.status_code == 200
    assert r.json()["versions"][0]["status"] == "CURRENT"


@pytest.mark.parametrize("body, words", [
    ({"name": "x", "disk_format": "floppy"}, "disk_format='floppy' is invalid: allowed"),
    ({"name": "x", "min_ram": -1}, "min_ram"),
    ({"name": "x", "custom": 5}, "property custom=5 is invalid: allowed a string"),
    ({"name": "x", "size": "5"}, "size is read-only"),
    ([1, 2], "invalid request"),
], ids=["disk-format", "min-ram", "non-string", "read-only", "not-an-object"])
def test_bad_create_is_400(live, body, words):
    r = httpx.post(f"{live.url}/image/v2/images", json=body,
                   headers={"X-Auth-Token": live.token()})
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]["message"]


def test_no_token_is_401(live):
    r = httpx.get(f"{live.url}/image/v2/images")
    assert r.status_code == 401
    assert "requires authentication" in r.json()["error"]["message"]


def test_openstack_image_stage_then_import(live, qcow2):
    """Glance's interoperable import with the unmodified client: stage (the image is
    uploading, nothing in the store yet), then import --method glance-direct (active, the
    staged bytes with their checksum)."""
    # created over HTTP: `openstack image create` without --file uploads its standard input
    h = {"X-Auth-Token": live.token()}
    image_id = httpx.post(f"{live.url}/image/v2/images", headers=h, json={
        "name": "staged-one", "disk_format": "qcow2", "container_format": "bare"}).json()["id"]
    r = live.client("openstack", "image", "stage", "--file", str(qcow2), image_id)
    assert r.returncode == 0, r.stderr + live.tail()
    shown = live.openstack("image", "show", image_id)
    assert (shown["status"], shown.get("size")) == ("uploading", None)
    r = live.client("openstack", "image", "import", "--method", "glance-direct", image_id)
    assert r.returncode == 0, r.stderr + live.tail()
    shown = live.openstack("image", "show", image_id)
    assert (shown["status"], shown["size"]) == ("active", qcow2.stat().st_size)
    assert shown["checksum"] == hashlib.md5(qcow2.read_bytes()).hexdigest()


@pytest.mark.parametrize("body, status, words", [
    ({"method": {"name": "web-download", "uri": "http://127.0.0.1:1/x"}}, 400,
     "import method 'web-download' is not offered: allowed glance-direct"),
    ({"method": {}}, 400, "method.name"),
    ({"method": {"name": "glance-direct"}}, 409,
     "is queued: stage its data first (kumo image stage)"),
], ids=["web-download-refused", "no-method-name", "nothing-staged"])
def test_bad_import_requests(live, body, status, words):
    h = {"X-Auth-Token": live.token()}
    image_id = httpx.post(f"{live.url}/image/v2/images", headers=h, json={
        "name": "imp", "disk_format": "raw", "container_format": "bare"}).json()["id"]
    r = httpx.post(f"{live.url}/image/v2/images/{image_id}/import", headers=h, json=body)
    assert r.status_code == status, r.text
    assert words in r.text
    assert httpx.get(f"{live.url}/image/v2/images/{image_id}", headers=h).json()[
        "status"] == "queued"


def test_import_info_offers_glance_direct_only(live):
    r = httpx.get(f"{live.url}/image/v2/info/import", headers={"X-Auth-Token": live.token()})
    assert r.status_code == 200
    assert r.json()["import-methods"]["value"] == ["glance-direct"]
