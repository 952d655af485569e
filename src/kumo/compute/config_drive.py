"""The config drive: an ISO 9660 image labelled ``config-2`` carrying the instance's metadata in
the OpenStack layout cloud-init (Linux) and cloudbase-init (Windows) read:

    openstack/latest/meta_data.json     uuid, name, hostname, project_id, availability_zone,
                                        launch_index, meta; public_keys + keys (Linux) or
                                        admin_pass (Windows)
    openstack/latest/network_data.json  links/networks/services: one link and one network per
                                        port (kumo.compute.ipam), as Nova's
                                        nova/virt/netutils.py get_network_metadata writes them
                                        (empty without ports: DHCP on the first NIC)
    openstack/latest/user_data          only when user data was given

Seed 003: SSH keys are never put in front of a Windows guest; a Windows guest gets the admin
password instead (cloudbase-init sets it from ``admin_pass``).

Built in memory with pycdlib (ISO 9660 with Rock Ridge and Joliet names, as Nova's
``genisoimage -r -J`` call): the admin password never touches a disk of the controller, so a
controller killed mid-build leaves no file with it behind (it used to be a temporary directory
handed to xorriso), and no subprocess is started per guest. The bytes go straight into the
host's volume through a libvirt stream.
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from kumo.private_files import open_private

LABEL = "config-2"


@dataclass(frozen=True)
class PortData:
    """One port as network_data.json describes it."""

    port_id: str
    mac: str
    network_id: str
    ip: str
    cidr: str
    gateway: str | None
    dhcp: bool
    mtu: int = 1500
    #: a default route through the gateway (not for isolated networks: nothing is beyond)
    default_route: bool = True


@dataclass(frozen=True)
class InstanceMetadata:
    uuid: str
    name: str
    os_type: str  # windows | linux | other
    project_id: str | None = None
    availability_zone: str | None = None
    #: key name -> OpenSSH public key
    public_keys: dict[str, str] = field(default_factory=dict)
    admin_pass: str | None = None
    user_data: bytes | None = None
    meta: dict[str, str] = field(default_factory=dict)
    ports: tuple[PortData, ...] = ()

    @property
    def hostname(self) -> str:
        """The name as a DNS label (Nova's sanitize_hostname: lower case, [a-z0-9-], <= 63)."""
        label = re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-")[:63].strip("-")
        return label or "server"


def meta_data(md: InstanceMetadata) -> dict:
    doc: dict = {"uuid": md.uuid, "name": md.name, "hostname": md.hostname,
                 "launch_index": 0, "project_id": md.project_id,
                 "availability_zone": md.availability_zone, "meta": dict(md.meta)}
    if md.os_type == "windows":
        if md.admin_pass:
            doc["admin_pass"] = md.admin_pass
    else:
        doc["public_keys"] = dict(md.public_keys)
        doc["keys"] = [{"name": n, "type": "ssh", "data": k} for n, k in md.public_keys.items()]
    return doc


def network_data(ports: tuple[PortData, ...] = ()) -> dict:
    """Nova's layout (get_network_metadata): a link per NIC named ``tap`` + the port id's first
    11 characters (the tap device Nova's libvirt driver makes), a network per subnet on it --
    ``ipv4_dhcp`` with no address where the subnet runs DHCP (the guest asks; the host's
    reservation gives it exactly kumo's address), else ``ipv4`` with the address, netmask and
    default route, for a guest to configure statically."""
    links, networks = [], []
    for i, p in enumerate(ports):
        link = f"tap{p.port_id[:11]}"
        links.append({"id": link, "vif_id": p.port_id, "type": "bridge",
                      "ethernet_mac_address": p.mac, "mtu": p.mtu})
        net = {"id": f"network{i}", "link": link, "network_id": p.network_id}
        if p.dhcp:
            net["type"] = "ipv4_dhcp"
        else:
            mask = str(ipaddress.ip_network(p.cidr).netmask)
            routes = ([{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": p.gateway}]
                      if p.gateway and p.default_route else [])
            net.update(type="ipv4", ip_address=p.ip, netmask=mask, routes=routes,
                       services=[])
        networks.append(net)
    return {"links": links, "networks": networks, "services": []}


#: the files, in the order they are written: (path under the root, contents)
Files = list[tuple[str, bytes]]


def files(md: InstanceMetadata) -> Files:
    out = [("openstack/latest/meta_data.json", json.dumps(meta_data(md), indent=2).encode()),
           ("openstack/latest/network_data.json",
            json.dumps(network_data(md.ports), indent=2).encode())]
    if md.user_data is not None:
        out.append(("openstack/latest/user_data", md.user_data))
    return out


def iso_bytes(md: InstanceMetadata) -> bytes:
    """The config drive ISO for ``md``, built in memory."""
    import pycdlib  # only create and rebuild need it

    iso = pycdlib.PyCdlib()
    # interchange level 2: ISO 9660 names up to 30 characters, so even a reader that ignores
    # both Rock Ridge and Joliet sees OPENSTACK/LATEST/META_DATA.JSON rather than 8.3 stubs
    iso.new(interchange_level=2, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    made: set[str] = set()
    try:
        for path, data in files(md):
            parts = path.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    iso.add_directory(_iso9660_name(directory), rr_name=parts[depth - 1],
                                      joliet_path="/" + directory)
                    made.add(directory)
            iso.add_fp(io.BytesIO(data), len(data), _iso9660_name(path) + ";1",
                       rr_name=parts[-1], joliet_path="/" + path)
        out = io.BytesIO()
        iso.write_fp(out)
    finally:
        iso.close()
    return out.getvalue()


def _iso9660_name(path: str) -> str:
    """ISO 9660's own name for ``path``: d-characters only (upper case, digits, underscore)."""
    return "/" + re.sub(r"[^A-Z0-9_./]", "_", path.upper())


def build(md: InstanceMetadata, dest: str | Path) -> Path:
    """Write the config drive ISO for ``md`` to ``dest`` (0600: it may hold the admin
    password). Guests get theirs from ``iso_bytes`` without a file."""
    dest = Path(dest)
    with open_private(dest, "wb") as f:
        f.write(iso_bytes(md))
    return dest
