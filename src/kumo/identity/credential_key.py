"""Sealing EC2 secrets: AES-GCM under a key kept in a file outside the database.

AWS Signature Version 4 is an HMAC keyed by a value derived from the secret itself and the
request's date (kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
"aws4_request")), so the server must be able to recover the secret: a one-way hash (what kumo
keeps of passwords and tokens) cannot verify a signature. The secret is sealed with AES-256-GCM
(cryptography's AESGCM, an authenticated cipher: a tampered row fails to open), a fresh 96-bit
nonce per seal, and the access key id as associated data, so a sealed secret copied onto another
credential's row does not open. The key is 32 random bytes in ``credential_key_file`` (0600,
made on first use; Keystone's credential fernet keys play the same part): a stolen database
alone gives no secret away.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from kumo.errors import ConfigError
from kumo.private_files import open_private, private_dir

KEY_BYTES = 32
NONCE_BYTES = 12


def load_or_create(path: Path) -> bytes:
    """The key in ``path``; made (0600, exclusively: two processes agree on one) if missing."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        private_dir(path.parent)
        try:
            with open_private(path, "xb") as f:
                f.write(secrets.token_bytes(KEY_BYTES))
        except FileExistsError:  # another process made it meanwhile: use theirs
            pass
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"credential_key_file {str(path)!r} cannot be read: "
                          f"{e.strerror or e}") from None
    if len(data) != KEY_BYTES:
        raise ConfigError(f"credential_key_file {str(path)!r} holds {len(data)} bytes: allowed "
                          f"exactly {KEY_BYTES} (a key kumo made; restore it from a backup)")
    return data


def seal(key: bytes, secret: str, associated: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), associated.encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes, sealed: str, associated: str) -> str | None:
    """The secret, or None when it does not open (another key, tampered, another row's)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.b64decode(sealed, validate=True)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                   associated.encode()).decode()
    except (InvalidTag, ValueError):
        return None
