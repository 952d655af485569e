"""SSH public keys: the one check a key passes before kumo stores it or gives it to a guest (a
server's --key-file, a key pair), and the key pairs kumo generates.

A key is one OpenSSH public key line, ``TYPE BASE64 [COMMENT]`` (what ``ssh-keygen`` writes to
``id_*.pub`` and Nova's os-keypairs stores), parsed with ``cryptography``'s
``load_ssh_public_key`` -- not matched by a pattern -- and checked as OpenSSH checks it: types
ssh-ed25519, ecdsa-sha2-nistp256/384/521, their security-key (sk-) forms, and ssh-rsa of at least
2048 bits (OpenSSH 9.x refuses smaller RSA keys; ssh-dss was disabled in OpenSSH 7.0 and removed
in 9.8). A private key is refused naming what it is and how to get its public half, and the
message never quotes the file's content (it may be a secret).
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from dataclasses import dataclass

from kumo.errors import InvalidInput

#: a key line is ~100 bytes (ed25519) to ~750 (rsa 4096); a larger file is not one key
MAX_KEY_BYTES = 16 * 1024
MIN_RSA_BITS = 2048
#: key types OpenSSH accepts by default (sshd PubkeyAcceptedAlgorithms, OpenSSH 9.x)
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-rsa")
ALLOWED = f"one OpenSSH public key line 'TYPE BASE64 [COMMENT]', TYPE one of {', '.join(KEY_TYPES)}"

#: first-line markers of what people give instead of a public key -> what it is, what to do
_NOT_PUBLIC = (
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "an OpenSSH private key"),
    ("-----BEGIN RSA PRIVATE KEY-----", "an RSA private key (PEM)"),
    ("-----BEGIN EC PRIVATE KEY-----", "an EC private key (PEM)"),
    ("-----BEGIN DSA PRIVATE KEY-----", "a DSA private key (PEM)"),
    ("-----BEGIN PRIVATE KEY-----", "a private key (PKCS#8)"),
    ("-----BEGIN ENCRYPTED PRIVATE KEY-----", "an encrypted private key (PKCS#8)"),
    ("PuTTY-User-Key-File-", "a PuTTY private key"),
)
_PRIVATE_FIX = "give its public key (the .pub file; `ssh-keygen -y -f KEYFILE` prints it)"
_CONVERTIBLE = (
    ("---- BEGIN SSH2 PUBLIC KEY ----", "an RFC 4716 (SSH2) public key",
     "convert it with `ssh-keygen -i -f FILE`"),
    ("-----BEGIN PUBLIC KEY-----", "a PEM public key",
     "convert it with `ssh-keygen -i -m PKCS8 -f FILE`"),
    ("-----BEGIN RSA PUBLIC KEY-----", "a PEM RSA public key",
     "convert it with `ssh-keygen -i -m PEM -f FILE`"),
)


@dataclass(frozen=True)
class PublicKey:
    type: str
    data: str  # base64, as in the key line
    comment: str
    bits: int
    #: OpenSSH's fingerprint (``ssh-keygen -l``): SHA256:<unpadded base64 of the blob's sha256>
    fingerprint: str

    @property
    def openssh(self) -> str:
        """The key line as stored and given to guests (normalised spacing)."""
        return " ".join(p for p in (self.type, self.data, self.comment) if p)

    @property
    def md5_fingerprint(self) -> str:
        """The fingerprint Nova records for a key pair (nova.crypto.generate_fingerprint, the
        os-keypairs ``fingerprint``): the MD5 of the key blob as colon-separated hex, what
        ``ssh-keygen -l -E md5`` prints after ``MD5:``. An identifier, not a security check."""
        digest = hashlib.md5(base64.b64decode(self.data), usedforsecurity=False).hexdigest()
        return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def parse_public_key(text: str, what: str = "SSH key") -> PublicKey:
    """The OpenSSH public key in ``text``; InvalidInput saying what ``text`` is instead."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    stripped = text.strip()
    head = stripped.splitlines()[0].strip() if stripped else ""
    for marker, kind in _NOT_PUBLIC:
        if head.startswith(marker):
            raise InvalidInput(f"{what} is {kind}, which must never leave its owner: {_PRIVATE_FIX}")
    for marker, kind, fix in _CONVERTIBLE:
        if head.startswith(marker):
            raise InvalidInput(f"{what} is {kind}, not in OpenSSH format: {fix}")
    if not stripped:
        raise InvalidInput(f"{what} is empty: allowed {ALLOWED}")
    if "\n" in stripped or "\r" in stripped:
        raise InvalidInput(f"{what} has {len(stripped.splitlines())} lines: allowed {ALLOWED}")
    parts = stripped.split(None, 2)
    key_type = parts[0]
    if key_type not in KEY_TYPES:
        shown = key_type if key_type.isprintable() and len(key_type) <= 40 else "(unreadable)"
        if key_type == "ssh-dss":
            raise InvalidInput(f"{what} is a DSA (ssh-dss) key, which OpenSSH no longer "
                               f"accepts: allowed {ALLOWED}")
        raise InvalidInput(f"{what} is not an OpenSSH public key (it starts with {shown!r}): "
                           f"allowed {ALLOWED}")
    if len(parts) < 2:
        raise InvalidInput(f"{what} has no key data after {key_type}: allowed {ALLOWED}")
    comment = parts[2] if len(parts) == 3 else ""
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in comment):
        raise InvalidInput(f"{what}'s comment has control characters: allowed printable text")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        key = load_ssh_public_key(f"{key_type} {parts[1]}".encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidInput(f"{what} is a {key_type} key whose data does not decode "
                           "(truncated or damaged): allowed a key line as ssh-keygen writes it"
                           ) from None
    except Exception as e:  # cryptography's UnsupportedAlgorithm: a type it cannot load
        raise InvalidInput(f"{what} ({key_type}) cannot be read: {type(e).__name__}: "
                           f"allowed {ALLOWED}") from None
    if isinstance(key, rsa.RSAPublicKey):
        bits = key.key_size
        if bits < MIN_RSA_BITS:
            raise InvalidInput(f"{what} is a {bits}-bit RSA key: allowed at least "
                               f"{MIN_RSA_BITS} bits (OpenSSH refuses smaller ones); make a new "
                               "one with `ssh-keygen -t ed25519`")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        bits = 256
    elif isinstance(key, dsa.DSAPublicKey):  # (the type check above already refused it)
        raise InvalidInput(f"{what} is a DSA key: allowed {ALLOWED}")
    else:
        raise InvalidInput(f"{what} is a {type(key).__name__}: allowed {ALLOWED}")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return PublicKey(key_type, parts[1], comment, bits, f"SHA256:{digest}")


#: key types ``generate_key`` makes: ed25519 (ssh-keygen's default since OpenSSH 9.5) and RSA
#: of 3072 bits (ssh-keygen's RSA default; for clients that need RSA, e.g. to decrypt a Windows
#: password encrypted to the key as EC2's GetPasswordData does)
GENERATED_TYPES = ("ed25519", "rsa")
GENERATED_RSA_BITS = 3072


#: how the private half is written: OpenSSH's own format (what ssh-keygen writes), or PEM
#: (RSA: PKCS#1 "BEGIN RSA PRIVATE KEY", what EC2's CreateKeyPair hands out; ed25519: PKCS#8)
PRIVATE_FORMATS = ("openssh", "pem")


@dataclass(frozen=True)
class GeneratedKey:
    public: PublicKey
    #: the private half (PRIVATE_FORMATS); given to the caller once and never stored
    private_key: str


def generate_key(kind: str = "ed25519", comment: str = "",
                 private_format: str = "openssh") -> GeneratedKey:
    """A new key pair of ``kind`` (GENERATED_TYPES), made with cryptography, its private half
    written in ``private_format``."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if private_format not in PRIVATE_FORMATS:
        raise InvalidInput(f"private key format {private_format!r} is invalid: allowed "
                           f"{', '.join(PRIVATE_FORMATS)}")
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif kind == "rsa":
        private = rsa.generate_private_key(65537, GENERATED_RSA_BITS)
    else:
        raise InvalidInput(f"key type {kind!r} is invalid: allowed {', '.join(GENERATED_TYPES)}")
    line = private.public_key().public_bytes(ser.Encoding.OpenSSH,
                                             ser.PublicFormat.OpenSSH).decode()
    fmt = (ser.PrivateFormat.OpenSSH if private_format == "openssh" else
           ser.PrivateFormat.TraditionalOpenSSL if kind == "rsa" else ser.PrivateFormat.PKCS8)
    pem = private.private_bytes(ser.Encoding.PEM, fmt, ser.NoEncryption()).decode()
    return GeneratedKey(parse_public_key(f"{line} {comment}".strip()), pem)
