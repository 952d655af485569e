"""MaxResults / NextToken: EC2's paging of Describe* answers.

Without MaxResults (and NextToken) a Describe answers everything, as EC2 does. With it, at
most that many items and, when more remain, a ``nextToken`` to ask for the rest. The token
says where the page ended -- the sort key of its last item, and which listing it belongs to --
not an offset: an item made or deleted between two pages neither repeats nor hides another.
It grants nothing: every page is the caller's own query again (tenancy, filters), only
starting after that key. A token that does not decode, or belongs to another listing, is
InvalidPaginationToken (EC2's code).

EC2's bounds: DescribeInstances takes MaxResults 5 to 1000 and not together with instance
ids (InvalidParameterCombination); DescribeImages 1 to 1000. Amazon's DescribeKeyPairs has
no paging parameters (boto3 does not send them); kumo takes them there too, 1 to 1000, for
scripts that page every listing the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kumo.ec2.errors import Ec2Error
from kumo.ec2.query import Params

T = TypeVar("T")
#: the page size when NextToken comes without MaxResults (EC2's largest page)
DEFAULT = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    #: None on the last page
    next_token: str | None


def paged(p: Params, listing: str, items: Sequence[T], key: Callable[[T], list[Any]],
          low: int = 1) -> Page[T]:
    """The page of ``items`` (ordered by ``key``, a list of strings and integers) that
    MaxResults / NextToken ask for; ``listing`` names the Describe the token belongs to."""
    size = p.integer("MaxResults", None, low, 1000)
    token = p.get("NextToken")
    ordered = sorted(items, key=key)
    if token:
        after = _decode(token, listing)
        ordered = [i for i in ordered if key(i) > after]
    elif size is None:
        return Page(ordered, None)
    size = size or DEFAULT
    page = ordered[:size]
    more = len(ordered) > size
    return Page(page, _encode(listing, key(page[-1])) if more else None)


def _encode(listing: str, after: list[Any]) -> str:
    raw = json.dumps({"l": listing, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, listing: str) -> list[Any]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(doc, dict) and doc.get("l") == listing and isinstance(doc.get("a"), list) \
                and all(isinstance(v, (str, int)) for v in doc["a"]):
            return doc["a"]
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    shown = token if len(token) <= 64 else token[:64] + "..."
    raise Ec2Error("InvalidPaginationToken", f"The pagination token '{shown}' is invalid: "
                   f"allowed the nextToken a previous {listing} answered")
