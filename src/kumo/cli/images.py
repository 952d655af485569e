"""``kumo image ...``: create, list (filter on any property, sort), show, set, unset, upload,
download, delete."""

from __future__ import annotations

import sys

import click

from kumo.cli import completion as complete
from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import parse_pairs
from kumo.cli.servers import run as _run
from kumo.compute import images as service
from kumo.errors import InvalidInput
from kumo.files import check_regular

LIST_COLUMNS = ("id", "name", "status", "visibility", "disk_format", "size")


def run(action, **kw):
    """Every image command first finishes or undoes what a killed image create or delete left
    in the store (kumo.compute.image_store)."""
    return _run(action, recover_store=True, **kw)


def _visibility_option(f):
    return click.option("--visibility", type=click.Choice(("public", "private", "shared",
                                                           "community")),
                        default=None, help="Who may see the image (public: admin only).")(f)


@click.group("image")
def image() -> None:
    """Images: validated properties, data checked by qemu-img and kept in kumo's image store."""


@image.command("create")
@click.argument("name")
@click.option("--file", "file", type=click.Path(dir_okay=False), default=None,
              help="Image data (checked with qemu-img info against --disk-format).")
@click.option("--disk-format", default=None,
              help="raw, qcow2, vhd, vhdx, vmdk, vdi, iso, aki (kernel), ari (ramdisk), ...")
@click.option("--container-format", default=None, help="bare (default), ovf, aki, ari, ...")
@click.option("--property", "props", multiple=True, metavar="KEY=VALUE",
              help="An image property; repeatable. Custom ones are kept verbatim.")
@click.option("--min-ram", type=int, default=None, help="Minimum RAM in MiB.")
@click.option("--min-disk", type=int, default=None, help="Minimum disk in GiB.")
@click.option("--protected", is_flag=True, help="Refuse deletion until unprotected.")
@_visibility_option
@show_options
def create(name: str, file: str | None, disk_format: str | None, container_format: str | None,
           props: tuple[str, ...], min_ram: int | None, min_disk: int | None, protected: bool,
           visibility: str | None, out: Output) -> None:
    """Create an image (with --file, its data is checked and stored)."""
    properties = parse_pairs(props)
    if file is not None:
        check_regular(file, "--file")
    out.one(run(lambda env, ctx: service.create_image(
        env, ctx, name, file=file, disk_format=disk_format, container_format=container_format,
        properties=properties, visibility=visibility or "shared", min_ram=min_ram,
        min_disk=min_disk, protected=protected)), f"image {name}")


@image.command("list")
@click.option("--property", "props", multiple=True, metavar="KEY=VALUE",
              help="Only images with this property value (any property, custom ones too); "
                   "repeatable.")
@click.option("--sort", "sort", default="created_at:desc", show_default=True,
              metavar="KEY[,KEY...][:asc|desc]",
              help="Sort on attributes or properties, e.g. release_date:desc.")
@click.option("--limit", type=int, default=None)
@click.option("--long", "long_", is_flag=True, help="Show every property as a column.")
@list_options
def list_(props: tuple[str, ...], sort: str, limit: int | None, long_: bool, out: Output) -> None:
    """List images; e.g. --property recommended=true --sort release_date:desc picks the
    newest recommended image by a custom property."""
    filters = parse_pairs(props)
    keys, _, direction = sort.partition(":")
    sort_keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not sort_keys:
        raise InvalidInput(f"--sort {sort!r} is invalid: allowed KEY[:asc|desc]")
    views = run(lambda env, ctx: service.list_images(env, ctx, filters, sort_keys,
                                                     direction or "desc", limit))
    columns = list(LIST_COLUMNS)
    if long_:
        columns += sorted({k for v in views for k in v["properties"]})
        views = [{**v, **v["properties"]} for v in views]
    out.many(views, columns, "images")


@image.command("show")
@click.argument("ref", metavar="IMAGE", shell_complete=complete.images)
@show_options
def show(ref: str, out: Output) -> None:
    """Show an image and its properties."""
    out.one(run(lambda env, ctx: service.show_image(env, ctx, ref)))


@image.command("set")
@click.argument("ref", metavar="IMAGE", shell_complete=complete.images)
@click.option("--property", "props", multiple=True, metavar="KEY=VALUE",
              help="Set a property (the whole set is validated again); repeatable.")
@click.option("--name", default=None)
@click.option("--min-ram", type=int, default=None)
@click.option("--min-disk", type=int, default=None)
@click.option("--protected/--unprotected", default=None)
@_visibility_option
@show_options
def set_(ref: str, props: tuple[str, ...], name: str | None, min_ram: int | None,
         min_disk: int | None, protected: bool | None, visibility: str | None,
         out: Output) -> None:
    """Change an image's properties or attributes (its owner or an admin)."""
    changes = parse_pairs(props)
    out.one(run(lambda env, ctx: service.update_image(
        env, ctx, ref, set_properties=changes, name=name, min_ram=min_ram, min_disk=min_disk,
        protected=protected, visibility=visibility)))


@image.command("unset")
@click.argument("ref", metavar="IMAGE", shell_complete=complete.images)
@click.option("--property", "keys", multiple=True, metavar="KEY", required=True,
              help="A property to remove; repeatable.")
@show_options
def unset(ref: str, keys: tuple[str, ...], out: Output) -> None:
    """Remove properties from an image."""
    out.one(run(lambda env, ctx: service.update_image(env, ctx, ref, unset=keys)))


@image.command("delete")
@click.argument("refs", metavar="IMAGE...", nargs=-1, required=True,
                shell_complete=complete.images)
def delete(refs: tuple[str, ...]) -> None:
    """Delete images and their data (servers keep their frozen properties)."""
    def action(env, ctx) -> None:
        for ref in refs:
            click.echo(f"deleted image {service.delete_image(env, ctx, ref)}")
    run(action)


@image.command("upload")
@click.argument("ref", metavar="IMAGE", shell_complete=complete.images)
@click.option("--file", "file", type=click.Path(dir_okay=False), required=True,
              help="Image data (checked with qemu-img info against the disk format).")
@click.option("--disk-format", default=None,
              help="The image's disk format, if it was created without one.")
@show_options
def upload(ref: str, file: str, disk_format: str | None, out: Output) -> None:
    """Upload data to a queued image (one created without --file); it becomes active."""
    import os

    from kumo.cli.progress import transfer
    from kumo.compute import image_data
    size = os.path.getsize(file) if os.path.isfile(file) else None
    with transfer(f"uploading {os.path.basename(file)}", size) as advance:
        view = run(lambda env, ctx: image_data.upload_image(
            env, ctx, ref, file, disk_format=disk_format, progress=advance))
    out.one(view)


@image.command("stage")
@click.argument("ref", metavar="IMAGE", shell_complete=complete.images)
@click.option("--file", "file", type=click.Path(dir_okay=False), required=True,
              help="Image data to stage (checked at import).")
@click.option("--disk-format", default=None,
              help="The image's disk format, if it was created without one.")
@show_options
def stage(ref: str, file: str, disk_format: str | None, out: Output) -> None:
    """Stage data for a queued image (as `openstack image stage`); `kumo image import` then
    checks and stores it. The image is uploading meanwhile."""
    import os

    from kumo.cli.progress import transfer
    from kumo.compute import image_data
    size = os.path.getsize(file) if os.path.isfile(file) else None
    with transfer(f"staging {os.path.basename(file)}", size) as advance:
        view = run(lambda env, ctx: image_data.stage_image(
            env, ctx, ref, file, disk_format=disk_format, progress=advance))
    out.one(view)


@image.command("import")
@click.argument("ref", metavar="IMAGE", shell_complete=complete.images)
@click.option("--method", default="glance-direct", show_default=True,
              help="Import method (kumo offers glance-direct: data staged by `image stage`).")
@show_options
def import_(ref: str, method: str, out: Output) -> None:
    """Import an image's staged data (as `openstack image import`): checked with qemu-img like
    an upload; the image becomes active. A failed check keeps the staged data."""
    from kumo.compute import image_data
    out.one(run(lambda env, ctx: image_data.import_image(env, ctx, ref, method)))


@image.command("download")
@click.argument("ref", metavar="IMAGE", shell_complete=complete.images)
@click.option("--file", "file", type=click.Path(dir_okay=False, allow_dash=True),
              required=True, help="Where to write the data ('-': standard output).")
def download(ref: str, file: str) -> None:
    """Download an active image's data (as `openstack image save --file`)."""
    from kumo.cli.progress import transfer
    from kumo.compute import image_data

    def action(env, ctx) -> None:
        size = image_data.data_size(env, ctx, ref)
        with transfer(f"downloading {ref}", size) as advance:
            dest = sys.stdout.buffer if file == "-" else file
            image_data.download_image(env, ctx, ref, dest, advance)
    run(action)


@image.command("orphans")
@list_options
def orphans(out: Output) -> None:
    """Image store files with no image behind them, unfinished creates/deletes, and images whose
    data file is missing (admin; reported, never deleted)."""
    found = [{"kind": e.kind, "name": e.name, "reason": e.outcome}
             for e in run(service.store_orphans)]
    if out.is_table and not found:
        click.echo("no orphans in the image store")
        return
    out.many(found, ("kind", "name", "reason"), "image store orphans")
