"""Rules: how the guest gets its first login.

Seed 003: Eucalyptus' add_key.pl mounted the guest's root partition to drop an SSH key in;
for Windows the operator had to disable it by hand (``exit 0``), and logged in with the
administrator password baked into the image. kumo installs SSH keys (through the config drive)
only into Linux-like guests, and gives Windows guests an admin password for os_admin_user
(default Administrator, as Nova's os_admin_user) instead.

A key pair on a Windows guest (the lead's rule, the one place it is decided): an RSA key is
accepted and used only to encrypt the admin password for the key's holder -- RSA PKCS#1 v1.5,
base64, what Nova's ``nova get-password SERVER KEYFILE`` (os-server-password) and EC2's
``GetPasswordData`` hand out and their clients decrypt -- and is never put on the config drive
as an SSH key. Any other key type cannot encrypt (ed25519 and ECDSA are signature keys; AWS
refuses them for Windows instances for the same reason) and is refused with the reason, never
silently dropped. The create paths (kumo.compute.servers for the CLI and the Compute API, which
EC2's RunInstances calls) ask ``windows_key_refusal``; the guest plan records the decision.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context
from kumo.guest.spec import CredentialSpec

DEFAULT_WINDOWS_ADMIN = "Administrator"
#: the key types that can encrypt a Windows guest's admin password (OpenSSH's name for RSA)
PASSWORD_KEY_TYPES = ("ssh-rsa",)


def key_type(public_key: str) -> str:
    """The type of an OpenSSH key line (its first word)."""
    words = public_key.split()
    return words[0] if words else ""


def windows_key_refusal(public_key: str) -> str | None:
    """None when the OpenSSH key ``public_key`` may be given to a Windows guest (an RSA key,
    used only to encrypt its admin password); else why not, in one line."""
    kind = key_type(public_key)
    if kind in PASSWORD_KEY_TYPES:
        return None
    return (f"a Windows guest takes a key pair only to encrypt its admin password (read with "
            f"nova get-password or EC2 GetPasswordData), which needs an RSA key, and this key "
            f"is {kind or 'empty'}: allowed {', '.join(PASSWORD_KEY_TYPES)} (kumo keypair "
            f"create --key-type rsa), or no key pair (the admin password is then shown once "
            f"by the command that creates the server)")


def decide_credentials(c: Context) -> CredentialSpec:
    d, keys = c.d, tuple(c.req.ssh_keys)
    if c.windows:
        return _windows(c, keys)
    if keys:
        d.decide("credentials.ssh_keys", f"{len(keys)} key(s)", "credentials.ssh-linux",
                 "key_name", len(keys), "SSH keys are delivered through the config drive")
    else:
        d.decide("credentials.ssh_keys", "none", "credentials.ssh-linux", "key_name", None,
                 "no key pair requested")
    user = c.props.get("os_admin_user")
    return CredentialSpec(ssh_keys=keys, admin_user=user, admin_password=False)


def _windows(c: Context, keys: tuple[str, ...]) -> CredentialSpec:
    d = c.d
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
             "windows", "SSH keys are never installed in Windows")
    password_key = None
    for key in keys:
        refusal = windows_key_refusal(key)
        if refusal is not None:
            d.error("windows-key-type", refusal,
                    "give an RSA key pair, or none, for a Windows guest")
        elif password_key is None:
            password_key = key
    if password_key is not None:
        d.decide("credentials.password_key", key_type(password_key),
                 "credentials.windows-password-key", "key_name", key_type(password_key),
                 f"the RSA key pair encrypts the admin password of {user} for its holder "
                 "(nova get-password, EC2 GetPasswordData); it is not installed as an SSH key")
    return CredentialSpec(ssh_keys=(), admin_user=user, admin_password=True,
                          password_key=password_key)
