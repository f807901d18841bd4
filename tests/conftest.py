import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("DATAMILL_SHARED_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set DATAMILL_SHARED_DATA)")
    return path


# a real llama.cpp server for the LLM tests (session-scoped), and a counting proxy in front of it
from llm_server import llm_proxy, llm_server, llm_settings  # noqa: E402,F401
