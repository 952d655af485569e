"""Finding the records a request names, as the requester may see them.

What a name may be is kumo.catalog.names (one rule for every name). A reference is an id (uuid / flavorid) or an exact name -- never a pattern (seed 002: a substring
match evacuated ten healthy hosts). One rule for every kind (``_find``): every visible record
whose id or name equals the reference is a candidate; one candidate is the answer, several are
refused as ambiguous, listing them -- so a record named like another's id (a flavor whose id is
another flavor's name, an image named with another image's uuid) can never silently take over a
reference. ``check_unclaimed`` refuses such a name or id when it is created. What a project may
see follows Glance and Nova: public and community images, its own, and those shared with it
(membership accepted); public flavors and private ones it was given; its own instances. An admin
sees everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from kumo.catalog.names import forbidden_character, short
from kumo.compute.context import RequestContext
from kumo.db.models import (Flavor, FlavorProject, Host, Image, ImageMember, Instance,
                            MemberStatus, Visibility)
from kumo.errors import InvalidInput, NotFound

def image_visible(ctx: RequestContext) -> ColumnElement[bool]:
    if ctx.is_admin:
        return Image.id.is_not(None)
    member = exists().where(ImageMember.image_id == Image.id,
                            ImageMember.project_id == ctx.project_id,
                            ImageMember.status == MemberStatus.ACCEPTED.value)
    return or_(Image.visibility.in_((Visibility.PUBLIC.value, Visibility.COMMUNITY.value)),
               Image.project_id == ctx.project_id,
               and_(Image.visibility == Visibility.SHARED.value, member))


def flavor_visible(ctx: RequestContext) -> ColumnElement[bool]:
    if ctx.is_admin:
        return Flavor.id.is_not(None)
    given = exists().where(FlavorProject.flavor_id == Flavor.id,
                           FlavorProject.project_id == ctx.project_id)
    return or_(Flavor.is_public.is_(True), given)


def instance_visible(ctx: RequestContext) -> ColumnElement[bool]:
    live = Instance.deleted.is_(False)
    return live if ctx.is_admin else and_(live, Instance.project_id == ctx.project_id)


def _find(session: Session, kind: str, model: type, ident: InstrumentedAttribute,
          name: InstrumentedAttribute, visible: ColumnElement[bool], ref: str) -> Any:
    """The one visible ``model`` whose id or name is ``ref`` (module docstring)."""
    check_ref(kind, ref)
    rows = list(session.scalars(select(model).where(or_(ident == ref, name == ref), visible)))
    return pick_one(kind, ident.key, rows, ref)


def check_ref(kind: str, ref: str) -> None:
    """NotFound for a reference no record can have (empty, not text, a forbidden character)."""
    if not isinstance(ref, str) or forbidden_character(ref) is not None or not ref:
        raise NotFound(f"{kind} {short(ref)} not found")


def pick_one(kind: str, key: str, rows: list[Any], ref: str) -> Any:
    """The one candidate of ``rows`` (records or Core rows whose id or name is ``ref``, their id
    attribute ``key``); NotFound for none, InvalidInput listing them for several."""
    if not rows:
        raise NotFound(f"{kind} {short(ref)} not found")
    if len(rows) == 1:
        return rows[0]
    ids = ", ".join(sorted(str(getattr(r, key)) for r in rows))
    if any(getattr(r, key) == ref for r in rows):
        raise InvalidInput(f"{kind} {short(ref)} is ambiguous: it is the id of one {kind} and "
                           f"the name of another ({ids}); rename the {kind} named {ref!r}")
    raise InvalidInput(f"{kind} name {short(ref)} is ambiguous: {len(rows)} {kind}s have it "
                       f"({ids}); give the id")


def check_unclaimed(session: Session, kind: str, *, name: str | None = None,
                    ident: str | None = None) -> None:
    """Refuse a new ``kind``'s name that is another's id, or an id that is another's name (or
    id): either would make references to one of them ambiguous."""
    model, id_col, name_col = _COLUMNS[kind]
    if name is not None:
        other = session.scalar(select(id_col).where(id_col == name))
        if other is not None:
            raise InvalidInput(f"{kind} name {short(name)} is the id of another {kind}: "
                               f"allowed a name that is no {kind}'s id")
    if ident is not None:
        if session.scalar(select(id_col).where(id_col == ident)) is not None:
            raise InvalidInput(f"{kind} id {short(ident)} is already taken")
        if session.scalar(select(id_col).where(name_col == ident).limit(1)) is not None:
            raise InvalidInput(f"{kind} id {short(ident)} is the name of another {kind}: "
                               f"allowed an id that is no {kind}'s name")


#: kind -> (model, id column, name column): what _find and check_unclaimed compare
_COLUMNS: dict[str, tuple[type, InstrumentedAttribute, InstrumentedAttribute]] = {
    "image": (Image, Image.id, Image.name),
    "flavor": (Flavor, Flavor.flavorid, Flavor.name),
    "host": (Host, Host.uuid, Host.name),
    "server": (Instance, Instance.uuid, Instance.name),
}


def find_image(session: Session, ctx: RequestContext, ref: str) -> Image:
    return _find(session, "image", Image, Image.id, Image.name, image_visible(ctx), ref)


def find_flavor(session: Session, ctx: RequestContext, ref: str) -> Flavor:
    return _find(session, "flavor", Flavor, Flavor.flavorid, Flavor.name, flavor_visible(ctx),
                 ref)


def find_host(session: Session, ref: str) -> Host:
    """The host named exactly ``ref`` (or with that uuid). No exact match is NotFound naming
    the nearest host names (a typo, or a prefix of several hosts: seed 002's 34 vs 340-349),
    never a guess."""
    try:
        return _find(session, "host", Host, Host.uuid, Host.name, Host.id.is_not(None), ref)
    except NotFound:
        if not isinstance(ref, str) or not ref or forbidden_character(ref) is not None:
            raise
        names = list(session.scalars(select(Host.name).order_by(Host.name)))
        raise NotFound(host_not_found(ref, names)) from None


def host_not_found(ref: str, names: list[str], limit: int = 5) -> str:
    """"host 'X' not found; nearest: A, B" -- nearest by difflib's similarity ratio, then the
    names that start with ``ref`` (a prefix is the dangerous near miss: 34 of 340-349)."""
    import difflib

    def ratio(name: str) -> float:
        return difflib.SequenceMatcher(None, ref, name).ratio()

    near = sorted((n for n in names if n.startswith(ref) or ratio(n) >= 0.6),
                  key=lambda n: (-ratio(n), n))  # most similar first, ties by name
    if not near:
        return f"host {ref!r} not found"
    shown = ", ".join(near[:limit]) + (f" and {len(near) - limit} more"
                                       if len(near) > limit else "")
    return f"host {ref!r} not found (hosts are named exactly); nearest: {shown}"


def match_hosts(session: Session, pattern: str) -> list[Host]:
    """Hosts whose name matches the shell glob ``pattern`` (fnmatch, case-sensitive): only for
    commands given ``--match``, which show the list and ask for ``--yes``."""
    import fnmatch

    rows = session.scalars(select(Host).order_by(Host.name)).all()
    return [h for h in rows if fnmatch.fnmatchcase(h.name, pattern)]


def search_hosts(session: Session, pattern: str) -> list[Host]:
    """Hosts whose name contains ``pattern`` (case-insensitive, literally: no wildcards), by
    name: Nova's ``hypervisor_hostname_pattern`` search, a ``LIKE '%pattern%'`` on a MySQL
    collation (nova/db/main/api.py compute_node_search_by_hypervisor). Kept because clients
    rely on it (``nova hypervisor-servers``; ``nova host-evacuate --strict`` filters the exact
    name itself); it is the substring danger of a failed host "34" matching 340-349, so kumo
    never acts on it: every command names hosts exactly (``find_host``). Nova's ``%`` and ``_``
    are wildcards there; here they match themselves."""
    needle = pattern.casefold()
    rows = session.scalars(select(Host).order_by(Host.name)).all()
    return [h for h in rows if needle in h.name.casefold()]


def prefix_clashes(names: list[str]) -> list[str]:
    """One warning per host name that is a prefix of other hosts' names (34 of 340-349): a
    tool matching by prefix or substring would take them all."""
    out = []
    for name in sorted(names):
        longer = sorted(n for n in names if n != name and n.startswith(name))
        if longer:
            shown = ", ".join(longer[:3]) + (f" and {len(longer) - 3} more"
                                             if len(longer) > 3 else "")
            out.append(f"warning: host name {name!r} is a prefix of {len(longer)} other "
                       f"host name(s) ({shown}); refer to hosts by exact name (zero-padded "
                       "numbers avoid this)")
    return out


def find_server(session: Session, ctx: RequestContext, ref: str) -> Instance:
    return _find(session, "server", Instance, Instance.uuid, Instance.name,
                 instance_visible(ctx), ref)
