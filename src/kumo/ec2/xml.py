"""Responses in Amazon's shapes: ``<ActionResponse xmlns="http://ec2.amazonaws.com/doc/VERSION/">
<requestId>..</requestId>...`` and errors as ``<Response><Errors><Error><Code>..</Code>
<Message>..</Message></Error></Errors><RequestID>..</RequestID></Response>``.

A body is built from plain values: a dict is an element per key (in order), a list is one
``<item>`` per element (EC2's ``...Set`` lists), a bool is ``true``/``false``, None omits the
element. lxml escapes text, and characters XML 1.0 cannot carry (control characters a name may
not hold anyway) are replaced, so no value can break the document.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

NAMESPACE = "http://ec2.amazonaws.com/doc/{version}/"
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _fill(parent: etree._Element, value: Any, ns: str) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if child is None:
                continue
            el = etree.SubElement(parent, f"{{{ns}}}{key}" if ns else key)
            _fill(el, child, ns)
    elif isinstance(value, list):
        for child in value:
            el = etree.SubElement(parent, f"{{{ns}}}item" if ns else "item")
            _fill(el, child, ns)
    else:
        parent.text = _text(value)


def response(action: str, version: str, request_id: str, body: dict[str, Any]) -> bytes:
    ns = NAMESPACE.format(version=version)
    root = etree.Element(f"{{{ns}}}{action}Response", nsmap={None: ns})
    _fill(root, {"requestId": request_id, **body}, ns)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def error(code: str, message: str, request_id: str) -> bytes:
    root = etree.Element("Response")
    _fill(root, {"Errors": {"Error": {"Code": code, "Message": message}},
                 "RequestID": request_id}, "")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
