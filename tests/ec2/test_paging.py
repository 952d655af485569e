"""MaxResults / NextToken (kumo.ec2.paging): pages that neither repeat nor skip an item when
items come and go between them, tokens bound to their listing, EC2's bounds."""

from __future__ import annotations

import base64

import pytest

from kumo.ec2.errors import Ec2Error
from kumo.ec2.paging import paged
from kumo.ec2.query import Params
from tests.ec2.support import run


def _all_pages(items, size, listing="DescribeThings", changes=None):
    pages, token = [], None
    while True:
        values = {"MaxResults": str(size)} | ({"NextToken": token} if token else {})
        page = paged(Params(values), listing, items, lambda i: [i])
        pages.append(page.items)
        if changes:
            items = changes(items)
        token = page.next_token
        if token is None:
            return pages


def test_without_maxresults_everything_in_key_order():
    page = paged(Params({}), "DescribeThings", ["b", "c", "a"], lambda i: [i])
    assert (page.items, page.next_token) == (["a", "b", "c"], None)


def test_pages_of_maxresults_then_no_token():
    assert _all_pages(list("edcba"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert _all_pages(list("abcd"), 2) == [["a", "b"], ["c", "d"]]


def test_an_item_deleted_or_added_between_pages_moves_nothing_else():
    # after the first page "b" (already shown) is deleted and "bb" (after it) added
    pages = _all_pages(list("abcde"), 2, changes=lambda items: [i for i in items if i != "b"]
                       + (["bb"] if "bb" not in items else []))
    assert pages == [["a", "b"], ["bb", "c"], ["d", "e"]]


@pytest.mark.parametrize("token, words", [
    ("garbage!", "invalid"),
    (base64.urlsafe_b64encode(b'{"l":"DescribeOther","a":["a"]}').decode(), "DescribeThings"),
    (base64.urlsafe_b64encode(b'{"l":"DescribeThings","a":[{"x":1}]}').decode(), "invalid"),
    (base64.urlsafe_b64encode(b'[1,2]').decode(), "invalid"),
], ids=["not-base64-json", "other-listing", "bad-key", "not-an-object"])
def test_a_foreign_or_damaged_token_is_invalidpaginationtoken(token, words):
    with pytest.raises(Ec2Error) as e:
        paged(Params({"NextToken": token}), "DescribeThings", ["a"], lambda i: [i])
    assert e.value.code == "InvalidPaginationToken" and words in e.value.message


@pytest.mark.parametrize("size", ["0", "1001", "x"])
def test_maxresults_out_of_bounds(size):
    with pytest.raises(Ec2Error) as e:
        paged(Params({"MaxResults": size}), "DescribeThings", [], lambda i: [i])
    assert e.value.code == "InvalidParameterValue" and "MaxResults" in e.value.message


def test_describe_key_pairs_pages(env, alice):
    from kumo.compute import keypairs
    from tests.compute.test_keys import openssh

    for name in ("e", "d", "c", "b", "a"):
        keypairs.import_key_pair(env, alice, name, openssh("ed25519"))
    names, token = [], None
    while True:
        extra = {"NextToken": token} if token else {}
        got = run(env, alice, "DescribeKeyPairs", MaxResults="2", **extra)
        names.append([k["keyName"] for k in got["keySet"]])
        token = got["nextToken"]
        if token is None:
            break
    assert names == [["a", "b"], ["c", "d"], ["e"]]
