"""A flywheel round end to end: logs -> cleaned records -> catalog versions; uncertain items to
a real annotation project (SQLite, the app's Python API), an annotator's answer exported back
as the next round's labels; the CLI on a simulated log built from the shared data."""

import orjson
import pytest
from click.testing import CliRunner
from flywheel_logs import write_log

from datamill.catalog import Catalog
from datamill.cli import main
from datamill.flywheel.round import ingest

pytest.importorskip("sqlalchemy")
pytest.importorskip("argon2")


def _annotate_one(db_url, project_name, rewrite):
    """An annotator answers the first task of the project through the app's Python API."""
    from sqlalchemy import select

    from datamill.annotate.auth import add_member, create_user
    from datamill.annotate.db import Project, make_engine, make_sessionmaker
    from datamill.annotate.distribution import next_task, submit

    engine = make_engine(db_url)
    with make_sessionmaker(engine, write=True)() as db:
        project = db.scalar(select(Project).where(Project.name == project_name))
        user = create_user(db, "ann1", "ann1-password-1", "annotator")
        add_member(db, project, user, "annotator")
        task = next_task(db, user, project)
        assert task is not None
        answer = {"ratings": {"0": {"accuracy": 1, "safety": 5, "helpfulness": 2}}, "rewrite": rewrite}
        submit(db, user, task.id, answer)
        db.commit()
    engine.dispose()


def test_round_without_cleaning_annotation_round_trip(tmp_path):
    log = write_log(tmp_path / "log.jsonl")
    db_url = f"sqlite:///{tmp_path / 'annotate.db'}"
    root = str(tmp_path / "cat")
    s = ingest([str(log)], str(tmp_path / "r1"), recipe=None, annotate="flywheel-r1", annotate_db=db_url,
               review_rounds=0, register="fw", catalog_root=root)
    assert s["quarantined"] == 5 and s["records"] == {"sft": 2, "preference": 2, "kto": 3, "uncertain": 1}
    assert s["annotation"]["items"] == 1 and s["annotation"]["created"]
    q = [orjson.loads(line) for line in open(tmp_path / "r1" / "quarantine.jsonl", "rb")]
    assert [e["line"] for e in q] == [3, 6, 9, 12, 15]
    cat = Catalog(root)
    v = cat.version("fw-sft@0")
    assert v.rows == 2 and v.lineage["inputs"][0]["path"] == str(log)  # the lineage names the log batch
    assert v.lineage["flywheel"]["log_batch"] == [str(log)]

    _annotate_one(db_url, "flywheel-r1", "No. The earth is an oblate spheroid.")
    s2 = ingest([str(log)], str(tmp_path / "r2"), recipe=None, labels_project="flywheel-r1", annotate_db=db_url,
                register="fw", catalog_root=root)
    assert s2["labels_read"] == {"sft": 1, "kto": 1}
    sft = cat.dataset("fw-sft@1").to_table().to_pylist()
    rewritten = [r for r in sft if r["messages"][-1]["content"] == "No. The earth is an oblate spheroid."]
    assert len(rewritten) == 1 and rewritten[0]["metadata"]["flywheel"]["source"] == "annotation"
    kto = [r for r in cat.dataset("fw-kto@1").to_table().to_pylist() if r["metadata"]["flywheel"]["source"] == "annotation"]
    assert len(kto) == 1 and kto[0]["label"] is False  # rated 1-2 of 5: undesirable
    from datamill.catalog.diff import diff

    d = diff(cat, "fw-sft@0", "fw-sft@1")["records"]
    assert (d["added"], d["removed"], d["unchanged"]) == (1, 0, 2)  # the round added the rewrite
    assert cat.version("fw-sft@1").lineage["inputs"][0] == {"catalog": "fw-sft@0"}


def test_cli_round_on_simulated_log_with_cleaning(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("DATAMILL_SHARED_DATA", str(shared_data))  # decontamination's benchmarks
    runner = CliRunner()
    r = runner.invoke(main, ["flywheel", "simulate", "--shared", str(shared_data), "-o", str(tmp_path / "logs"),
                             "--per-source", "15"])
    assert r.exit_code == 0, r.output
    assert "SIMULATED" in r.output
    r = runner.invoke(main, ["flywheel", "ingest", str(tmp_path / "logs"), "-o", str(tmp_path / "round1"),
                             "--register", "fw", "--catalog", str(tmp_path / "cat")])
    assert r.exit_code == 0, r.output
    assert "quarantined 3 lines" in r.output and "registered fw-sft@0" in r.output
    summary = orjson.loads((tmp_path / "round1" / "flywheel.json").read_bytes())
    assert summary["clean"]["sft"]["out"] > 0 and summary["records"]["preference"] > 0
    stats = orjson.loads((tmp_path / "round1" / "clean" / "sft" / ".datamill" / "stats.json").read_bytes())
    assert [s["step"] for s in stats["steps"]][:3] == ["post_validate", "template_leak_filter", "post_pii"]
