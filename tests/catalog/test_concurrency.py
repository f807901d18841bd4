"""Two writers at once, and a commit killed midway: never a half-written version."""

import os
import signal
import subprocess
import sys
import time

import orjson

from datamill.catalog import Catalog

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def _commit_script(root, name, path, file_size=None):
    return (f"import sys; sys.path.insert(0, {SRC!r})\n"
            f"from datamill.catalog import Catalog\n"
            f"v = Catalog({root!r}, target_file_size={file_size!r}).add({name!r}, {path!r})\n"
            f"print(v.version)\n")


def _docs(path, n, tag):
    with open(path, "wb") as fh:
        for i in range(n):
            fh.write(orjson.dumps({"id": f"{tag}-{i}", "text": f"{tag} document {i}. 第{i}号文档。" * 5}) + b"\n")
    return str(path)


def test_two_writers_commit_the_same_name(tmp_path):
    root = str(tmp_path / "cat")
    cat = Catalog(root)
    cat.add("d", _docs(tmp_path / "base.jsonl", 10, "base"))
    a, b = _docs(tmp_path / "a.jsonl", 3000, "a"), _docs(tmp_path / "b.jsonl", 2000, "b")
    procs = [subprocess.Popen([sys.executable, "-c", _commit_script(root, "d", p)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for p in (a, b)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    ok = [r for r in results if r[2] == 0]
    for out, err, rc in results:  # a loser fails with one clear line, never a traceback
        assert rc == 0 or "another writer committed" in err, err
    versions = {int(v.version): v for v in cat.history("d")}
    assert len(versions) == 1 + len(ok) and len(ok) >= 1
    for v in versions.values():  # every version holds exactly what its writer committed
        rows = cat.dataset(v.ref).to_table(columns=["id"]).column("id").to_pylist()
        assert len(rows) == v.rows and len({r.split("-")[0] for r in rows}) == 1


def test_killed_commit_leaves_no_half_version(tmp_path):
    root = str(tmp_path / "cat")
    cat = Catalog(root)
    cat.add("d", _docs(tmp_path / "base.jsonl", 10, "base"))
    table_dir = tmp_path / "cat" / "d"
    before = set(os.listdir(table_dir))
    big = _docs(tmp_path / "big.jsonl", 300_000, "big")
    killed_midway = False
    for _ in range(3):
        # small Parquet files, so the data files are written one by one before the log entry
        proc = subprocess.Popen([sys.executable, "-c", _commit_script(root, "d", big, 128 << 10)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if set(os.listdir(table_dir)) - before:  # data files are being written; no log entry yet
                break
            time.sleep(0.002)
        logs = len(os.listdir(table_dir / "_delta_log"))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if logs == 1 and set(os.listdir(table_dir)) - before:
            killed_midway = True
            break
    assert killed_midway, "could not catch the commit between its data files and its log entry"
    # the new files exist but no version refers to them
    assert [v.version for v in cat.history("d")] == [0]
    assert cat.dataset("d").count_rows() == 10
    v = cat.add("d", _docs(tmp_path / "next.jsonl", 5, "next"))
    assert v.version == 1 and cat.dataset("d@1").count_rows() == 5
