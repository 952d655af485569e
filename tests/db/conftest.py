"""Fixtures for the database tests: see tests/db/fixtures.py (shared with other test packages)."""

from tests.db.fixtures import *  # noqa: F401,F403
