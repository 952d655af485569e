"""Rules: how the guest gets its first login.

Seed 003: Eucalyptus' add_key.pl mounted the guest's root partition to drop an SSH key in;
for Windows the operator had to disable it by hand (``exit 0``), and logged in with the
administrator password baked into the image. kumo injects SSH keys (through the config drive)
only into Linux-like guests, and gives Windows guests an admin password for os_admin_user
(default Administrator, as Nova's os_admin_user) instead.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context
from kumo.guest.spec import CredentialSpec

DEFAULT_WINDOWS_ADMIN = "Administrator"
#: why a create or rebuild of a Windows server with an SSH key is refused (kumo.compute.servers)
#: rather than the key silently dropped
WINDOWS_TAKES_NO_KEY = (
    "a Windows guest takes no SSH key (nothing in it would install one); it gets an admin "
    "password instead, generated and shown once by the command that creates it -- log in with "
    "that (reset it with kumo server set-password)")


def decide_credentials(c: Context) -> CredentialSpec:
    d, keys = c.d, tuple(c.req.ssh_keys)
    if c.windows:
        if "os_admin_user" in c.props:
            name, given = c.prop("os_admin_user")
            user = d.decide("credentials.admin_user", c.props.get("os_admin_user"),
                            "credentials.windows-admin", name, given,
                            "Windows gets an admin password for os_admin_user")
        else:
            user = d.decide("credentials.admin_user", DEFAULT_WINDOWS_ADMIN,
                            "credentials.windows-admin", "default", None,
                            "Windows gets an admin password for Administrator (os_admin_user "
                            "unset)")
        d.decide("credentials.ssh_keys", "none", "credentials.no-ssh-windows", "os_type",
                 "windows", "SSH keys are never injected into Windows")
        if keys:
            d.warn("ssh-key-windows", f"{len(keys)} SSH key(s) requested for a Windows guest are "
                   f"ignored; an admin password for {user} is set instead",
                   "log in with the admin password (nova get-password / kumo server show)")
        return CredentialSpec(ssh_keys=(), admin_user=user, admin_password=True)
    if keys:
        d.decide("credentials.ssh_keys", f"{len(keys)} key(s)", "credentials.ssh-linux",
                 "key_name", len(keys), "SSH keys are delivered through the config drive")
    else:
        d.decide("credentials.ssh_keys", "none", "credentials.ssh-linux", "key_name", None,
                 "no key pair requested")
    user = c.props.get("os_admin_user")
    return CredentialSpec(ssh_keys=keys, admin_user=user, admin_password=False)
