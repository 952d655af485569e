"""What a server is given at create besides its image and flavor: user data and metadata, with
Nova's limits (the Compute API's servers schema and quotas), so a request the API would refuse
is refused by the CLI in the same words.

* user data: at most 65535 characters of base64 (Nova's ``user_data`` schema: format base64,
  maxLength 65535), i.e. at most 49149 bytes before encoding; kept base64 on the instance and
  written decoded to the config drive's ``openstack/latest/user_data``;
* metadata: at most 128 items (Nova's default ``metadata_items`` quota; over it Nova answers 403
  "Quota exceeded for metadata items"), keys 1 to 255 of ``A-Z a-z 0-9 - _ : . space`` (Nova's
  metadata schema), values at most 255 characters of storable text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from kumo.catalog.names import check_text, short
from kumo.errors import InvalidInput

MAX_USER_DATA_B64 = 65535
#: the largest raw size whose base64 (4 characters per started 3 bytes) fits MAX_USER_DATA_B64
MAX_USER_DATA_BYTES = MAX_USER_DATA_B64 // 4 * 3
METADATA_MAX_ITEMS = 128
METADATA_VALUE_MAX = 255
_METADATA_KEY = re.compile(r"[a-zA-Z0-9_:. -]{1,255}")
KEY_ALLOWED = "1 to 255 of the characters A-Z a-z 0-9 - _ : . space"


class MetadataQuota(InvalidInput):
    """More metadata items than the quota (Nova: 403 Forbidden)."""

    status = 403


def user_data_from_bytes(data: bytes, what: str = "--user-data") -> str:
    """The user data ``data`` (raw bytes, e.g. a cloud-config file) as stored: base64."""
    if len(data) > MAX_USER_DATA_BYTES:
        raise InvalidInput(f"{what} is {len(data)} bytes: allowed at most "
                           f"{MAX_USER_DATA_BYTES} bytes ({MAX_USER_DATA_B64} characters of "
                           "base64, the Compute API's limit)")
    return base64.b64encode(data).decode("ascii")


def user_data_from_base64(text: str, what: str = "user_data") -> str:
    """The user data as the Compute API carries it (base64), checked and normalised."""
    if len(text) > MAX_USER_DATA_B64:
        raise InvalidInput(f"{what} is {len(text)} characters: allowed at most "
                           f"{MAX_USER_DATA_B64} characters of base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not valid base64: allowed the user data base64-encoded "
                           f"(at most {MAX_USER_DATA_B64} characters)") from None
    return base64.b64encode(data).decode("ascii")


def decoded(user_data: str | None) -> bytes | None:
    """The bytes of stored user data (None: none was given)."""
    return None if user_data is None else base64.b64decode(user_data)


def check_metadata(metadata: Mapping[Any, Any] | None, what: str = "metadata") -> dict[str, str]:
    """``metadata`` as stored (key -> value), or InvalidInput / MetadataQuota naming what is
    wrong."""
    items = dict(metadata or {})
    if len(items) > METADATA_MAX_ITEMS:
        raise MetadataQuota(f"quota exceeded for {what} items: {len(items)} given, allowed at "
                            f"most {METADATA_MAX_ITEMS}")
    for key, value in items.items():
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            raise InvalidInput(f"{what} key {short(key)} is invalid: allowed {KEY_ALLOWED}")
        if not isinstance(value, str):
            raise InvalidInput(f"{what} value of {key!r} is a {type(value).__name__}: allowed "
                               "a string")
        if len(value) > METADATA_VALUE_MAX:
            raise InvalidInput(f"{what} value of {key!r} is {len(value)} characters: allowed "
                               f"at most {METADATA_VALUE_MAX}")
        check_text(f"{what} value of {key!r}", value)
    return items
