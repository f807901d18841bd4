"""Fixtures for the annotation app tests (defined in annotate_helpers.py, with the helpers the
tests import: a module name of its own, so it never clashes with tests/conftest.py)."""

from annotate_helpers import api, app, client, postgres_server  # noqa: F401  (fixtures)
