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
import re
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
        return colon_hex(hashlib.md5(base64.b64decode(self.data),
                                     usedforsecurity=False).digest())

    @property
    def der_md5_fingerprint(self) -> str:
        """The MD5 of the key as DER SubjectPublicKeyInfo, colon hex: what EC2 shows for an
        RSA key it imported (the EC2 user guide's check of an imported key's fingerprint:
        ``openssl rsa -in KEY -pubout -outform DER | openssl md5 -c``)."""
        from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                                  load_ssh_public_key)

        der = load_ssh_public_key(f"{self.type} {self.data}".encode()).public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return colon_hex(hashlib.md5(der, usedforsecurity=False).digest())

    @property
    def sha256_base64(self) -> str:
        """The SHA-256 of the key blob, base64 with its padding: OpenSSH's fingerprint
        (``ssh-keygen -l`` prints it unpadded after ``SHA256:``) as EC2 shows an ED25519
        key's."""
        return base64.b64encode(hashlib.sha256(base64.b64decode(self.data)).digest()).decode()


def colon_hex(digest: bytes) -> str:
    """``ab:cd:...``: how ssh-keygen -E md5 and openssl's -c print a digest."""
    return ":".join(f"{b:02x}" for b in digest)


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
    #: the SHA-1 of the private key as PKCS#8 DER, colon hex: the fingerprint EC2 shows for a
    #: key pair it created (its user guide's check: ``openssl pkcs8 -in KEY -inform PEM
    #: -outform DER -topk8 -nocrypt | openssl sha1 -c``). Computed here because the private
    #: key is never kept; it says nothing the public key does not (a digest of a secret is
    #: no secret), and is recorded with the key pair.
    private_fingerprint: str


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
    pkcs8 = private.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    return GeneratedKey(parse_public_key(f"{line} {comment}".strip()), pem,
                        colon_hex(hashlib.sha1(pkcs8, usedforsecurity=False).digest()))


#: what EC2's ImportKeyPair takes besides an OpenSSH line (its API reference: "OpenSSH public
#: key format, Base64 encoded DER format, SSH public key file format as specified in RFC4716")
IMPORT_FORMATS = ("an OpenSSH public key line", "an RFC 4716 (SSH2) public key",
                  "a PEM or DER (or base64 DER) SubjectPublicKeyInfo")
_BASE64_ONLY = re.compile(r"[A-Za-z0-9+/=\s]+")


def openssh_line(material: bytes, what: str = "the public key") -> str:
    """The OpenSSH key line of a public key in any of IMPORT_FORMATS (converted with
    cryptography, not by hand, but for RFC 4716's armour around the key blob); the line is
    then checked by ``parse_public_key`` like any other. InvalidInput for what is none of them
    (a private key is refused there, naming what it is)."""
    from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                              load_der_public_key,
                                                              load_pem_public_key)

    def of(key) -> str:
        try:
            return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
        except ValueError:  # a key type OpenSSH has no format for
            raise InvalidInput(f"{what} is a {type(key).__name__}, which SSH cannot use: "
                               f"allowed {ALLOWED}") from None

    try:
        text = material.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = None
    if text is None:
        try:
            return of(load_der_public_key(material))
        except (ValueError, TypeError):
            raise InvalidInput(f"{what} is binary but not a DER public key: allowed "
                               f"{', '.join(IMPORT_FORMATS)}") from None
    if text.startswith("---- BEGIN SSH2 PUBLIC KEY ----"):
        return _rfc4716(text, what)
    if text.startswith(("-----BEGIN PUBLIC KEY-----", "-----BEGIN RSA PUBLIC KEY-----")):
        try:
            return of(load_pem_public_key(text.encode()))
        except (ValueError, TypeError):
            raise InvalidInput(f"{what} is a PEM public key that does not decode: allowed "
                               f"{', '.join(IMPORT_FORMATS)}") from None
    if text and _BASE64_ONLY.fullmatch(text) and not text.startswith(KEY_TYPES):
        try:
            return of(load_der_public_key(base64.b64decode("".join(text.split()),
                                                           validate=True)))
        except (ValueError, TypeError):
            pass  # not base64 DER after all: parse_public_key says what it is
    return text


def _rfc4716(text: str, what: str) -> str:
    """RFC 4716: header lines ``Tag: value`` (continued by a trailing backslash), then the
    key blob in base64, between the BEGIN and END markers."""
    lines = [line.strip() for line in text.splitlines()]
    if "---- END SSH2 PUBLIC KEY ----" not in lines:
        raise InvalidInput(f"{what} is an RFC 4716 (SSH2) public key without its END line")
    body, continued = [], False
    for line in lines[1:lines.index("---- END SSH2 PUBLIC KEY ----")]:
        if continued or ":" in line:
            continued = line.endswith("\\")
            continue
        body.append(line)
    try:
        blob = base64.b64decode("".join(body), validate=True)
        size = int.from_bytes(blob[:4], "big")
        key_type = blob[4:4 + size].decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"{what} is an RFC 4716 (SSH2) public key whose data does not "
                           "decode") from None
    return f"{key_type} {base64.b64encode(blob).decode()}"
