"""Fixtures of the report tests."""

import pytest

from report_helpers import make_run


@pytest.fixture
def report_run(tmp_path):
    return make_run(tmp_path)
