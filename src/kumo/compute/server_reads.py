"""Reading servers to show and list them (``kumo server show|list``, the Compute API's
``GET /servers[/detail]`` and ``GET /servers/{id}``): Core queries of only the columns the
server view shows (kumo.compute.states.view_of), the host's and image's names joined in, and
one query for the servers' addresses -- no ORM objects.

Why not the ORM here: loading 1,000 Instance records (identity map, every column, MutableDict
wrappers around three JSON columns, a lazy load of each host, the ports' selectin) took about
150 ms of CPU of a 1,000-server ``GET /servers/detail``, and a show loaded the whole record and
its host in three statements; lists and shows are the API's most frequent requests
(``openstack server list``; ``wait_for_server`` polls a show). The statements are compiled once
(kumo.db.prepared: building and hashing a statement per call cost more than running it), and
the values come back as the driver gives them, converted here. What changes a server still goes
through the records (kumo.compute.servers).
"""

from __future__ import annotations

import json
from collections import namedtuple
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, or_, select
from sqlalchemy.orm import Session

from kumo.compute.context import RequestContext
from kumo.compute.lookup import check_ref, pick_one
from kumo.compute.states import ServerFields, view_of
from kumo.db.models import Host, Image, Instance, Network, Port
from kumo.db.prepared import Prepared, utc_datetime


#: the view's fields (kumo.compute.states.ServerFields), the host's name, and the image's
#: name (lists only)
ServerRow = namedtuple("ServerRow", [*ServerFields.__annotations__, "host_name", "image_name"],
                       defaults=(None,))

_COLUMNS = (*(getattr(Instance, f) for f in ServerFields.__annotations__), Host.name)
_JSON = tuple(ServerRow._fields.index(f) for f in ("server_metadata", "image_properties"))
_TIMES = tuple(ServerRow._fields.index(f) for f in ("created_at", "launched_at"))


def _json(value: Any) -> Any:
    """A JSON column as the driver gives it: SQLite text, PostgreSQL (psycopg) decoded."""
    if value == "{}":  # most servers' metadata
        return {}
    return json.loads(value) if isinstance(value, str) else value


def _server(raw: tuple[Any, ...]) -> Any:
    values = list(raw)
    for i in _JSON:
        values[i] = _json(values[i])
    for i in _TIMES:
        values[i] = utc_datetime(values[i])
    return ServerRow(*values)


def _where(own: bool) -> list[ColumnElement[bool]]:
    """Live servers; ``own``: of the project bound as ``project`` (kumo.compute.lookup's
    instance_visible, written with a bind parameter so that one statement serves every
    project)."""
    live: list[ColumnElement[bool]] = [Instance.deleted.is_(False)]
    return [*live, Instance.project_id == bindparam("project")] if own else live


def _show(own: bool) -> Select:
    ref = bindparam("ref")
    return (select(*_COLUMNS).outerjoin(Host, Host.id == Instance.host_id)
            .where(*_where(own), or_(Instance.uuid == ref, Instance.name == ref)))


def _list(own: bool) -> Select:
    return (select(*_COLUMNS, Image.name).outerjoin(Host, Host.id == Instance.host_id)
            .outerjoin(Image, Image.id == Instance.image_id).where(*_where(own))
            .order_by(Instance.created_at, Instance.id))


def _listed_addresses(own: bool) -> Select:
    return (select(Port.instance_uuid, Network.name, Port.ip_address)
            .join(Network, Network.id == Port.network_id)
            .where(Port.instance_uuid.in_(select(Instance.uuid).where(*_where(own))))
            .order_by(Port.instance_uuid, Port.device_index))


#: (every project's, one project's) statements
_SHOW = (Prepared(lambda: _show(False)), Prepared(lambda: _show(True)))
_LIST = (Prepared(lambda: _list(False)), Prepared(lambda: _list(True)))
_LIST_ADDRESSES = (Prepared(lambda: _listed_addresses(False)),
                   Prepared(lambda: _listed_addresses(True)))
_ADDRESSES = Prepared(lambda: select(Network.name, Port.ip_address)
                      .join(Network, Network.id == Port.network_id)
                      .where(Port.instance_uuid == bindparam("uuid"))
                      .order_by(Port.device_index))


def _by_network(pairs: Any) -> dict[str, list[str]]:
    """network name -> its fixed addresses, in NIC order (Nova's ``addresses``)."""
    out: dict[str, list[str]] = {}
    for network, ip in pairs:
        out.setdefault(network, []).append(ip)
    return out


def show(session: Session, ctx: RequestContext, ref: str) -> dict[str, Any]:
    """The server ``ref`` (id or exact name) as ``ctx`` may see it; NotFound, or InvalidInput
    for an ambiguous name (kumo.compute.lookup, one rule for every kind)."""
    check_ref("server", ref)
    conn = session.connection()
    own = not ctx.is_admin
    raw = _SHOW[own].rows(conn, ref=ref, **({"project": ctx.project_id} if own else {}))
    row = pick_one("server", "uuid", [_server(r) for r in raw], ref)
    addrs = _by_network(_ADDRESSES.rows(conn, uuid=row.uuid))
    return view_of(row, row.host_name, addrs, ctx, session)


def list_all(session: Session, ctx: RequestContext, project: str | None) -> list[dict[str, Any]]:
    """The servers of ``project`` (None: of every project) as ``ctx`` may see them, oldest
    first, each with ``image_name`` (None once its image is deleted)."""
    conn = session.connection()
    own = project is not None
    where = {"project": project} if own else {}
    rows = [_server(r) for r in _LIST[own].rows(conn, **where)]
    addrs: dict[str, list[tuple[str, str]]] = {}
    if rows:
        for uuid, network, ip in _LIST_ADDRESSES[own].rows(conn, **where):
            addrs.setdefault(uuid, []).append((network, ip))
    return [{**view_of(r, r.host_name, _by_network(addrs.get(r.uuid, ())), ctx, session),
             "image_name": r.image_name} for r in rows]
