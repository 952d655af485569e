"""A server's consoles through the service layer on a FakeHost: its display password is made at
create, kept in the record and rendered into every regenerated domain (never into decisions or
the server view); the console log is read from the host through the storage API, tailed; the
VNC display's address is read from the live domain."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from kumo.compute import consoles, naming, servers
from kumo.db.models import Instance
from kumo.errors import InvalidInput, NotFound, StateError
from tests.compute.fakehost import fake_cloud


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    yield env, host
    assert host.watch.violations == []


def _record(env, uuid: str) -> Instance:
    with env.db.session_scope(readonly=True) as s:
        instance = s.query(Instance).filter_by(uuid=uuid).one()
        s.expunge_all()
    return instance


def _graphics(host, uuid: str) -> etree._Element:
    root = etree.fromstring(host.domains[naming.domain_name(uuid)].xml.encode())
    [g] = root.findall("devices/graphics")
    return g


def test_display_password_made_at_create_kept_and_rendered(cloud, admin):
    env, host = cloud
    view = servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    uuid = view.server["id"]
    password = _record(env, uuid).display_password
    assert re.fullmatch(r"[A-Za-z0-9]{8}", password)
    g = _graphics(host, uuid)
    assert (g.get("type"), g.get("passwd"), g.find("listen").get("address")) == (
        "vnc", password, "127.0.0.1")
    assert password not in repr(servers.show_server(env, admin, uuid))
    servers.reboot_server(env, admin, uuid, hard=True)  # the domain is regenerated ...
    assert _graphics(host, uuid).get("passwd") == password  # ... with the same password
    other = servers.create_server(env, admin, "web2", image="linux", flavor="tiny").server["id"]
    assert _record(env, other).display_password != password


def test_console_log_tail(cloud, admin):
    env, host = cloud
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    volume = naming.volume_name(uuid, naming.CONSOLE)
    with pytest.raises(NotFound) as e:
        consoles.console_log(env, admin, "web")
    assert str(e.value) == (f"server 'web' has no console output yet: its console log ({volume} "
                            f"in pool {env.pool_name!r} on host 'kvm-1') is written from the "
                            "guest's first start")
    host.write_file(env.pool_name, volume, b"boot\r\nline 2\r\n\xff bad byte\r\nlast\r\n")
    assert consoles.console_log(env, admin, "web") == (
        "boot\r\nline 2\r\n\ufffd bad byte\r\nlast\r\n")
    assert consoles.console_log(env, admin, "web", lines=2) == "\ufffd bad byte\r\nlast\r\n"
    assert consoles.console_log(env, admin, "web", lines=99).startswith("boot")
    [call] = host.ops("read_volume")[-1:]
    assert call.args == {"pool": env.pool_name, "name": volume,
                         "max_bytes": consoles.LOG_MAX_BYTES}


@pytest.mark.parametrize("lines", [0, -3])
def test_console_log_lines_must_be_positive(cloud, admin, lines):
    env, _host = cloud
    servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    with pytest.raises(InvalidInput, match=rf"^--lines must be 1 or more, got {lines}$"):
        consoles.console_log(env, admin, "web", lines=lines)


def test_another_projects_server_is_not_found(cloud, admin, alice):
    env, _host = cloud
    servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    with pytest.raises(NotFound):
        consoles.console_log(env, alice, "web")
    with pytest.raises(NotFound):
        consoles.display(env, alice, "web")


def _live_port(host, uuid: str, port: int) -> None:
    """What libvirt's live XML says once the guest runs: the port autoport picked."""
    dom = host.domains[naming.domain_name(uuid)]
    dom.xml = dom.xml.replace('port="-1"', f'port="{port}"')


def test_display_address_of_a_running_server(cloud, admin):
    env, host = cloud
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    with pytest.raises(StateError, match="^server 'web' is not running: its VNC display"):
        consoles.display(env, admin, "web")  # the fake keeps the defined XML: port -1
    _live_port(host, uuid, 5907)
    d = consoles.display(env, admin, "web")
    assert (d.url, d.host, d.address, d.port, d.password) == (
        "vnc://127.0.0.1:5907", "kvm-1", "127.0.0.1", 5907, _record(env, uuid).display_password)
    assert d.reachable_here is True  # fake:///kvm-1 names no other machine


def test_display_on_a_remote_hosts_loopback_is_not_reachable_here(cloud, admin, fake_hosts):
    from datetime import datetime, timezone

    from tests.support.hosts import add_host

    env, _host = cloud
    add_host(env.db, "node7", "fake://node7/system", last_heartbeat=datetime.now(timezone.utc))
    uuid = servers.create_server(env, admin, "far", image="linux", flavor="tiny",
                                 host="node7").server["id"]
    _live_port(fake_hosts["fake://node7/system"], uuid, 5900)
    d = consoles.display(env, admin, "far")
    assert (d.url, d.host, d.reachable_here) == ("vnc://127.0.0.1:5900", "node7", False)


def test_display_of_a_domain_defined_before_displays(cloud, admin):
    env, host = cloud
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    dom = host.domains[naming.domain_name(uuid)]
    root = etree.fromstring(dom.xml.encode())
    for g in root.findall("devices/graphics"):
        g.getparent().remove(g)
    dom.xml = etree.tostring(root, encoding="unicode")
    with pytest.raises(StateError, match="hard-reboot it to regenerate the domain"):
        consoles.display(env, admin, "web")
