"""Filtering and sorting images on core columns and on any property, custom ones included."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kumo.db.models import Image
from kumo.db.queries import filter_images, image_query
from kumo.errors import InvalidInput

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

# CERN's catalogue (seed 000): their own release_date and recommended next to Glance's properties
IMAGES = [
    # name, visibility, min_ram, protected, properties
    ("win7", "public", 2048, False,
     {"os_distro": "windows", "os_type": "windows", "release_date": "2019-03-01",
      "recommended": "false"}),
    ("win2019", "public", 4096, True,
     {"os_distro": "windows", "os_type": "windows", "release_date": "2021-06-15",
      "recommended": "true", "os_edition": "Server Standard"}),
    ("win10", "private", 4096, False,
     {"os_distro": "windows", "os_type": "windows", "release_date": "2020-11-30",
      "recommended": "true"}),
    ("cc7", "public", 1024, False,
     {"os_distro": "centos", "os_type": "linux", "release_date": "2020-01-10",
      "recommended": "true"}),
    ("scratch", "community", 512, False, {"os_type": "linux"}),  # no release_date
]


@pytest.fixture
def catalogue(db):
    with db.session_scope() as s:
        for i, (name, visibility, min_ram, protected, props) in enumerate(IMAGES):
            image = Image(name=name, visibility=visibility, status="active", min_ram=min_ram,
                          protected=protected, created_at=T0 + timedelta(minutes=i))
            image.properties.update(props)
            s.add(image)
    return db


def names(db, filters=None, sort_key="created_at", sort_dir="desc"):
    with db.session_scope(readonly=True) as s:
        return [i.name for i in filter_images(s, filters, sort_key, sort_dir)]


@pytest.mark.parametrize("filters, sort_key, sort_dir, expected", [
    ({"recommended": "true"}, "release_date", "desc", ["win2019", "win10", "cc7"]),
    ({"recommended": "true", "os_type": "windows"}, "release_date", "asc", ["win10", "win2019"]),
    ({}, "release_date", "asc", ["win7", "cc7", "win10", "win2019", "scratch"]),
    ({}, "release_date", "desc", ["win2019", "win10", "cc7", "win7", "scratch"]),
    ({"os_edition": "Server Standard"}, "name", "asc", ["win2019"]),
    ({"os_distro": ["centos", "windows"], "visibility": "public"}, "name", "asc",
     ["cc7", "win2019", "win7"]),
    ({"visibility": "public", "protected": "true"}, "name", "asc", ["win2019"]),
    ({"min_ram": "4096"}, "name", "desc", ["win2019", "win10"]),
    ({"owner": "nobody"}, "name", "asc", []),
    ({"recommended": "True"}, "name", "asc", []),  # values are verbatim: exact match only
    ({}, "created_at", "desc", ["scratch", "cc7", "win10", "win2019", "win7"]),
    # equal keys (min_ram 4096 twice) are ordered by created_at, in the same direction
    ({"os_type": "windows"}, ["os_type", "min_ram"], "desc", ["win10", "win2019", "win7"]),
], ids=["cern-recommended-newest-first", "custom-and-schema-filters", "missing-sorts-last-asc",
        "missing-sorts-last-desc", "custom-with-space", "any-of-and-core",
        "core-bool", "core-int", "no-match", "verbatim", "default-created-at",
        "two-sort-keys"])
def test_filter_and_sort(catalogue, filters, sort_key, sort_dir, expected):
    assert names(catalogue, filters, sort_key, sort_dir) == expected


def test_loaded_images_carry_their_properties(catalogue):
    with catalogue.session_scope(readonly=True) as s:
        [image] = filter_images(s, {"name": "cc7"})
    assert dict(image.properties) == dict(IMAGES[3][4])


def test_query_composes_with_tenancy_conditions(catalogue):
    stmt = image_query({"os_type": "windows"}, "name", "asc").where(Image.visibility == "public")
    with catalogue.session_scope(readonly=True) as s:
        assert list(s.scalars(stmt.with_only_columns(Image.name))) == ["win2019", "win7"]


@pytest.mark.parametrize("filters, sort_dir, message", [
    ({}, "up", "sort direction 'up' is invalid: allowed asc or desc"),
    ({"protected": "yes"}, "asc", "image filter protected='yes' is invalid: allowed true or false"),
    ({"min_disk": "big"}, "asc", "image filter min_disk='big' is invalid: allowed an integer"),
    ({"created_at": "2026"}, "asc", "images cannot be filtered on 'created_at'"),
], ids=["sort-dir", "bool", "int", "timestamp"])
def test_bad_requests_name_what_is_wrong(filters, sort_dir, message):
    with pytest.raises(InvalidInput) as err:
        image_query(filters, "name", sort_dir)
    assert str(err.value).startswith(message)
