"""Catalog: the image property schema, its validation and image documents."""

from kumo.catalog.properties import ImageDocument, ImageProperties

__all__ = ["ImageDocument", "ImageProperties"]
