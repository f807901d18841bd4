"""Test set-up shared by the whole suite.

Tests that read the real public data of ../shared/data ask for the ``shared_data`` fixture and
are marked ``real_data`` automatically. Without that folder (a user's clone) they are skipped,
announced by one line; under CI (``CI`` set) or with ``DATAMILL_REQUIRE_SHARED_DATA=1`` a
missing folder fails the run instead, so CI can never pass by skipping them.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SKIP_REASON = "real data: ../shared/data not found (set DATAMILL_SHARED_DATA)"


def shared_data_dir() -> Path:
    env = os.environ.get("DATAMILL_SHARED_DATA")
    # absolute: `make test` passes ../shared/data, and some tests change the working folder
    return Path(env).resolve() if env else (REPO.parent / "shared" / "data")


def _data_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("DATAMILL_REQUIRE_SHARED_DATA") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data: reads the real public data of ../shared/data")


def pytest_collection_modifyitems(config, items):
    missing = not shared_data_dir().exists()
    skipped = 0
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_data)
            if missing and not _data_required():
                item.add_marker(pytest.mark.skip(reason=_SKIP_REASON))
                skipped += 1
    config._datamill_real_data_skipped = skipped


def pytest_sessionstart(session):
    if _data_required() and not shared_data_dir().exists():
        raise pytest.UsageError(f"datamill: the real-data tests need {shared_data_dir()} and this run requires "
                                "them (CI or DATAMILL_REQUIRE_SHARED_DATA=1): not skipping, failing")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = getattr(config, "_datamill_real_data_skipped", 0)
    if skipped:
        terminalreporter.write_line(f"datamill: {skipped} real-data tests skipped: {shared_data_dir()} not found "
                                    "(set DATAMILL_SHARED_DATA to run them)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.exists():
        pytest.fail(f"shared data not found at {path} (set DATAMILL_SHARED_DATA)")
    return path


# a real llama.cpp server for the LLM tests (session-scoped), and a counting proxy in front of it
from llm_server import llm_proxy, llm_server, llm_settings  # noqa: E402,F401
