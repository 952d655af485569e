"""The config drive: an ISO 9660 image labelled ``config-2`` carrying the instance's metadata in
the OpenStack layout cloud-init (Linux) and cloudbase-init (Windows) read:

    openstack/latest/meta_data.json     uuid, name, hostname, project_id, availability_zone,
                                        launch_index, meta; public_keys + keys (Linux) or
                                        admin_pass (Windows)
    openstack/latest/network_data.json  links/networks/services (empty: DHCP on the first NIC)
    openstack/latest/user_data          only when user data was given

Seed 003: SSH keys are never put in front of a Windows guest; a Windows guest gets the admin
password instead (cloudbase-init sets it from ``admin_pass``). Built with xorriso's mkisofs
emulation (Rock Ridge + Joliet, as Nova's genisoimage call).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kumo.errors import InvalidInput

LABEL = "config-2"
XORRISO_TIMEOUT_S = 60


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


def network_data() -> dict:
    return {"links": [], "networks": [], "services": []}


def build(md: InstanceMetadata, dest: str | Path) -> Path:
    """Write the config drive ISO for ``md`` to ``dest``."""
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="kumo-cd-") as tmp:
        latest = Path(tmp, "openstack", "latest")
        latest.mkdir(parents=True)
        (latest / "meta_data.json").write_text(json.dumps(meta_data(md), indent=2))
        (latest / "network_data.json").write_text(json.dumps(network_data()))
        if md.user_data is not None:
            (latest / "user_data").write_bytes(md.user_data)
        cmd = ["xorriso", "-as", "mkisofs", "-o", str(dest), "-V", LABEL, "-J", "-R",
               "-quiet", tmp]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=XORRISO_TIMEOUT_S)
        except FileNotFoundError:
            raise InvalidInput("xorriso is not installed (Debian: apt install xorriso); it "
                               "builds config drives") from None
    if out.returncode != 0:
        raise RuntimeError(f"xorriso failed ({out.returncode}): {out.stderr.strip()}")
    return dest
