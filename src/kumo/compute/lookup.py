"""Finding the records a request names, as the requester may see them.

A reference is an id (uuid / flavorid) or an exact name -- never a pattern (seed 002: a substring
match evacuated ten healthy hosts). A name two visible records share is refused, listing their
ids. What a project may see follows Glance and Nova: public and community images, its own, and
those shared with it (membership accepted); public flavors and private ones it was given; its own
instances. An admin sees everything.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

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


def _one(kind: str, ref: str, rows: list, ident) -> object:
    if not rows:
        raise NotFound(f"{kind} {ref!r} not found")
    if len(rows) > 1:
        ids = ", ".join(sorted(str(ident(r)) for r in rows))
        raise InvalidInput(f"{kind} name {ref!r} is ambiguous: {len(rows)} {kind}s have it "
                           f"({ids}); give the id")
    return rows[0]


def find_image(session: Session, ctx: RequestContext, ref: str) -> Image:
    visible = image_visible(ctx)
    by_id = session.scalars(select(Image).where(Image.id == ref, visible)).all()
    rows = by_id or session.scalars(select(Image).where(Image.name == ref, visible)).all()
    return _one("image", ref, list(rows), lambda r: r.id)  # type: ignore[return-value]


def find_flavor(session: Session, ctx: RequestContext, ref: str) -> Flavor:
    visible = flavor_visible(ctx)
    by_id = session.scalars(select(Flavor).where(Flavor.flavorid == ref, visible)).all()
    rows = by_id or session.scalars(select(Flavor).where(Flavor.name == ref, visible)).all()
    return _one("flavor", ref, list(rows), lambda r: r.flavorid)  # type: ignore[return-value]


def find_host(session: Session, ref: str) -> Host:
    """The host named exactly ``ref`` (or with that uuid). No exact match is NotFound naming
    the nearest host names (a typo, or a prefix of several hosts: seed 002's 34 vs 340-349),
    never a guess."""
    rows = session.scalars(select(Host).where(or_(Host.name == ref, Host.uuid == ref))).all()
    if not rows:
        names = list(session.scalars(select(Host.name).order_by(Host.name)))
        raise NotFound(host_not_found(ref, names))
    return _one("host", ref, list(rows), lambda r: r.name)  # type: ignore[return-value]


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
    visible = instance_visible(ctx)
    by_id = session.scalars(select(Instance).where(Instance.uuid == ref, visible)).all()
    rows = by_id or session.scalars(select(Instance).where(Instance.name == ref, visible)).all()
    return _one("server", ref, list(rows), lambda r: r.uuid)  # type: ignore[return-value]
