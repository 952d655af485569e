"""Reading another OpenStack cloud as its clients do: ``--os-cloud NAME`` names a cloud of
clouds.yaml (``envvars``: the ``OS_*`` variables of an openrc), through openstacksdk -- the
library python-openstackclient itself uses, so whatever authenticates there works here.

Images come back as Glance v2 documents (custom properties as top-level keys), exactly what
``openstack image show -f json`` prints and what ``kumo lint --image FILE`` reads, so a remote
image and a file are linted by the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Iterator

from kumo.errors import ConfigError, HostUnreachable, InvalidInput, NotFound

#: images asked per request when walking the whole catalog (Glance's default page is 25)
PAGE = 200


def connect(cloud: str) -> Any:
    """An openstacksdk Connection to ``cloud``; ConfigError naming what is wrong."""
    try:
        import openstack
        from openstack import exceptions as os_exc
        from openstack.config import exceptions as config_exc
    except ImportError:  # an optional dependency: only this command needs it
        raise ConfigError("--os-cloud needs openstacksdk: pip install openstacksdk") from None
    try:
        conn = openstack.connect(cloud=cloud)
        conn.authorize()
    except config_exc.OpenStackConfigException as e:
        raise ConfigError(f"--os-cloud {cloud!r}: {e}") from None
    except os_exc.HttpException as e:
        raise ConfigError(f"--os-cloud {cloud!r}: authentication failed: {_reason(e)}") from None
    except os_exc.SDKException as e:
        raise HostUnreachable(f"--os-cloud {cloud!r}: {e}") from None
    return conn


def _reason(e: Any) -> str:
    return str(getattr(e, "details", None) or e).splitlines()[0]


def _get(conn: Any, path: str) -> Any:
    from openstack import exceptions as os_exc

    try:
        return conn.image.get(path).json()
    except os_exc.NotFoundException:
        return None
    except os_exc.HttpException as e:
        raise HostUnreachable(f"the Image API answered GET {path}: {_reason(e)}") from None


def image_document(conn: Any, ref: str) -> dict[str, Any]:
    """The Glance document of the image with id ``ref``, else the one image named ``ref``."""
    from urllib.parse import quote

    doc = _get(conn, f"/images/{quote(ref, safe='')}")
    if isinstance(doc, dict) and doc.get("id") == ref:
        return doc
    found = _get(conn, f"/images?name={quote(ref, safe='')}") or {}
    images = found.get("images") or []
    if not images:
        raise NotFound(f"image {ref!r} not found in that cloud (by id or name)")
    if len(images) > 1:
        ids = ", ".join(sorted(i["id"] for i in images))
        raise InvalidInput(f"image name {ref!r} is ambiguous: {len(images)} images have it "
                           f"({ids}); give the id")
    return images[0]


def all_image_documents(conn: Any) -> Iterator[dict[str, Any]]:
    """Every image the credentials see, page by page (Glance's ``next`` links)."""
    path: str | None = f"/images?limit={PAGE}"
    while path:
        page = _get(conn, path) or {}
        yield from page.get("images") or []
        nxt = page.get("next")
        path = nxt.removeprefix("/v2") if isinstance(nxt, str) and nxt else None


#: the service type of kumo's own operations in the catalog (kumo.api.routers.kumo_ext,
#: kumo_fleet)
KUMO_SERVICE = "kumo"



def os_cloud_option(note: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Every remote-capable command's ``--os-cloud NAME`` (its value: ``os_cloud``)."""
    import click

    return click.option("--os-cloud", "os_cloud", default=None, metavar="NAME",
                        help="Ask the kumo controller of this cloud (clouds.yaml; 'envvars': "
                             "the OS_* variables) through its API instead of the local "
                             f"database{note}.")


def kumo_get(cloud: str, path: str, params: list[tuple[str, str]]) -> Any:
    """GET ``path`` of the kumo extension of ``cloud``'s controller (its catalog's ``kumo``
    endpoint) as the cloud's credentials; the answer's JSON, or the controller's own error."""
    return kumo_call(cloud, "GET", path, params=params)


def kumo_call(cloud: str, method: str, path: str, *, params: list[tuple[str, str]] | None = None,
              body: dict[str, Any] | None = None) -> Any:
    """``method`` ``path`` of the kumo extension of ``cloud``'s controller, as ``kumo_get``;
    ``body`` sent as JSON. No time limit: a reconcile or an evacuation answers when it is
    done, as the local command returns."""
    from openstack import exceptions as os_exc

    conn = connect(cloud)
    try:
        r = conn.session.request(path, method, params=params, json=body, raise_exc=False,
                                 endpoint_filter={"service_type": KUMO_SERVICE,
                                                  "interface": "public"})
    except os_exc.SDKException as e:
        raise HostUnreachable(f"--os-cloud {cloud!r}: {e}") from None
    except Exception as e:  # keystoneauth: no such endpoint, connection refused
        raise HostUnreachable(f"--os-cloud {cloud!r}: {type(e).__name__}: {e}") from None
    finally:
        conn.close()
    if r.status_code < 300:
        return r.json()
    raise remote_error(r.status_code, _message(r))


def _message(response: Any) -> str:
    try:
        body = response.json()
        inner = next(iter(body.values()))
        return str(inner.get("message"))
    except (ValueError, AttributeError, StopIteration, TypeError):
        return response.text[:200] or f"HTTP {response.status_code}"


def remote_error(status: int, message: str) -> Exception:
    """The kumo error a controller's answer stands for (its message kept)."""
    from kumo.errors import Forbidden, StateError, Unauthorized

    kinds = {400: InvalidInput, 401: Unauthorized, 403: Forbidden, 404: NotFound,
             409: StateError}
    return kinds.get(status, HostUnreachable)(f"the controller answered {status}: {message}")
