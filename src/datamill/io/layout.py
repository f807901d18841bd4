"""Where a run puts what: record files at the top of the output folder, everything else in its
hidden ``.datamill/`` folder, so every Parquet/JSON reader pointed at the folder reads the
records and nothing else (``pyarrow.dataset(OUT)``, ``datasets.load_dataset(OUT)``, Ray's
``read_parquet(OUT)``, DuckDB's ``read_parquet(OUT)``; Polars wants the glob ``OUT/*.parquet``
because it refuses any folder that holds other files, hidden or not)::

    OUT/part-00000.parquet ...        the records (one file per shard)
    OUT/.datamill/stats.json          the run's statistics (``datamill summary OUT``)
    OUT/.datamill/quarantine/*.jsonl  records that could not be read or processed, and why
    OUT/.datamill/dropped/*.jsonl.gz  dropped records with their reason (``--keep-dropped``)
    OUT/.datamill/reports/*.json      reports of global steps (decontamination)
    OUT/.datamill/run.json, done/, work/, state/   the run's plan, markers and working files

Runs written before this layout kept ``stats.json``, ``quarantine/``, ``dropped/`` and
``contamination_report.json`` beside the records; the ``find_*`` functions read both.
"""

from __future__ import annotations

import fsspec

RUN_DIR = ".datamill"


def _join(out: str, *parts: str) -> str:
    return "/".join([out.rstrip("/"), *parts])


def run_path(out: str, *parts: str) -> str:
    """A path inside the run folder ``OUT/.datamill``."""
    return _join(out, RUN_DIR, *parts)


def stats_path(out: str) -> str:
    return run_path(out, "stats.json")


def quarantine_dir(out: str) -> str:
    return run_path(out, "quarantine")


def dropped_dir(out: str) -> str:
    return run_path(out, "dropped")


def report_path(out: str, name: str) -> str:
    return run_path(out, "reports", name)


def _first_existing(*paths: str) -> str | None:
    for path in paths:
        fs, p = fsspec.core.url_to_fs(path)
        if fs.exists(p):
            return path
    return None


def find_stats(out: str) -> str | None:
    """The run's stats.json, in the current layout or beside the records (older runs)."""
    return _first_existing(stats_path(out), _join(out, "stats.json"))


def find_quarantine_dir(out: str) -> str | None:
    return _first_existing(quarantine_dir(out), _join(out, "quarantine"))


def find_dropped_dir(out: str) -> str | None:
    return _first_existing(dropped_dir(out), _join(out, "dropped"))


def find_report(out: str, name: str) -> str | None:
    return _first_existing(report_path(out, name), _join(out, name))
