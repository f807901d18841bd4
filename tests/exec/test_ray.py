"""The Ray executor runs the same tasks as the local executor and gives the same output.

Tests start real Ray: a private instance (``executor="ray"`` with no address) and, once for the
module, a head node started with ``ray start --head`` on 127.0.0.1 that other tests join with
``address=``. Everything Ray starts here runs in sessions this file created, and is ended by
process id at the end (never ``ray stop``, which would stop other people's Ray on the machine).
"""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from datamill.core.errors import DatamillError  # noqa: E402
from datamill.core.step import REGISTRY, Resources, Transform, register  # noqa: E402

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
sys.path.insert(0, str(HERE))

from run_pipeline import pipeline  # noqa: E402
from test_local import make_shards, read_output  # noqa: E402

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
_BENCHMARKS = HERE.parents[2] / "shared" / "data" / "benchmarks"
if _BENCHMARKS.is_dir():  # decontaminate's benchmark sets, whatever folder Ray's workers run in
    os.environ.setdefault("DATAMILL_BENCHMARKS_DIR", str(_BENCHMARKS))


@register("test_ray_failing_setup")
class FailingSetup(Transform):
    """A step whose model cannot load: the task raises, the run stops with a clear error."""

    def setup(self):
        raise RuntimeError("model file missing: /nowhere/model.bin")

    def transform(self, record):
        return record


# --- helpers --------------------------------------------------------------------------------
def _env() -> dict:
    paths = [str(SRC), str(HERE)] + [p for p in sys.path if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)), RAY_USAGE_STATS_ENABLED="0")


def _session(sid: int) -> list[int]:
    out = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(p.pid) == sid:
                out.append(p.pid)
        except (ProcessLookupError, psutil.Error, OSError):
            pass
    return out


def _end_session(sid: int, grace: float) -> float:
    """Wait up to ``grace`` s for every process of session ``sid`` (which this test started)
    to exit, then SIGKILL the rest by pid. Returns the seconds it took them to go."""
    t0 = time.time()
    while _session(sid) and time.time() - t0 < grace:
        time.sleep(0.2)
    for pid in _session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return time.time() - t0


def _extra_global_steps() -> list:
    """Global steps other parts of the project add (MinHash, paragraph dedup, decontamination):
    the executors must agree on them too, so include those that build with their defaults."""
    from datamill.core.recipe import load_steps_registry

    load_steps_registry()
    steps = []
    for name in ("minhash_dedup", "paragraph_dedup", "decontaminate", "decontamination"):
        cls = REGISTRY.get(name)
        if cls is None:
            continue
        try:
            steps.append(cls())
        except TypeError:  # needs parameters we cannot guess here
            continue
    return steps


def _dedup_pipeline():
    from datamill import Pipeline
    from datamill.steps.dedup.exact import ExactDedup
    from datamill.steps.mix.sample import Sample

    return Pipeline([Sample(rate=0.9, seed=3), ExactDedup(), *_extra_global_steps()],
                    output_format="jsonl", compression="gz")


def _comparable(stats: dict) -> dict:
    steps = [{k: s[k] for k in ("step", "in", "out", "dropped")} for s in stats["steps"]]
    out_dir = stats["output_dir"]
    globals_ = {step: {k: (v.replace(out_dir, "OUT") if isinstance(v, str) else v) for k, v in info.items()}
                for step, info in stats["globals"].items()}
    return {"steps": steps, "globals": globals_, "output": stats["output"],
            "reader": stats["reader"]}


# --- no Ray needed ------------------------------------------------------------------------
def test_tasks_ask_ray_for_what_their_steps_declare(tmp_path):
    from datamill import Pipeline
    from datamill.exec.ray_executor import RayExecutor, stage_resources
    from datamill.steps.dedup.exact import ExactDedup
    from datamill.steps.mix.sample import Sample

    class Heavy(Sample):
        resources = Resources(cpus=4, gpus=1, memory_mb=4096)

    (tmp_path / "in.jsonl").write_text('{"id": "1", "text": "a"}\n')
    plan = Pipeline([Heavy(rate=1.0), ExactDedup(), Sample(rate=1.0)]).plan(
        [str(tmp_path / "in.jsonl")], str(tmp_path / "out"))
    stages = {s.name: s for s in plan.stages()}
    assert stage_resources(plan, stages["seg0"]) == Resources(cpus=4, gpus=1, memory_mb=4096)
    assert stage_resources(plan, stages["seg1"]).cpus == 1.0
    ex = RayExecutor(workers=2)
    small = {"CPU": 2.0, "GPU": 0.0, "memory": 2 * 2**30}
    opts = ex._options(plan, stages["seg0"], small)
    assert opts["num_cpus"] == 2.0 and "num_gpus" not in opts and opts["memory"] == 2 * 2**30
    gpu_node = {"CPU": 8.0, "GPU": 2.0, "memory": 64 * 2**30}
    opts = ex._options(plan, stages["seg0"], gpu_node)
    assert opts["num_cpus"] == 4 and opts["num_gpus"] == 1 and opts["memory"] == 4096 * 2**20


# --- a private Ray instance (no address) ----------------------------------------------------
def _start_and_kill(code: str, args: list[str], done_dir: Path, ready) -> int:
    """Run ``code`` in a new session, SIGKILL its process group once ``ready(markers)`` holds,
    wait for Ray's own processes (which outlive the driver briefly) to go; return how many
    markers there were at the kill."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            markers = [p.name for p in done_dir.iterdir()] if done_dir.exists() else []
            if ready(markers):
                break
            if proc.poll() is not None:
                pytest.fail("the run finished before it could be killed")
            time.sleep(0.05)
        else:
            pytest.fail("the run did not get far enough to be killed")
        os.killpg(proc.pid, signal.SIGKILL)  # the driver's process group: Ray's own processes survive it
        proc.wait()
        return len(list(done_dir.iterdir()))
    finally:
        # Ray notices its driver is gone and stops its workers; wait for that (kill any straggler)
        _end_session(proc.pid, grace=30)


def test_sigkill_then_rerun_on_ray_gives_the_same_output(tmp_path):
    inputs = make_shards(tmp_path / "in", n_shards=8, copies=6)
    reference = tmp_path / "reference"
    pipeline(0.0).run([str(inputs)], str(reference), workers=1)

    out = tmp_path / "killed"
    done_dir = out / ".datamill" / "done"
    code = ("import sys; from run_pipeline import pipeline; "
            "pipeline(float(sys.argv[4])).run([sys.argv[1]], sys.argv[2], workers=int(sys.argv[3]), executor='ray')")
    _start_and_kill(code, [str(inputs), str(out), "2", "0.5"], done_dir,
                    lambda markers: sum(m.startswith("seg0-") for m in markers) >= 2)
    finished = len(list(done_dir.glob("seg0-*.json")))
    assert 2 <= finished < 8, "the kill must land in the middle of the first stage"
    assert not (out / ".datamill" / "stats.json").exists()

    stats = pipeline(0.5).run([str(inputs)], str(out), workers=2, executor="ray")
    assert stats["executor"] == "ray" and stats["resumed_tasks"] >= 2
    assert read_output(out) == read_output(reference)
    assert stats["reader"]["read"] == json.loads((reference / ".datamill" / "stats.json").read_text())["reader"]["read"]
    assert not list(out.rglob(".tmp-*")), "no temporary files may be left behind"


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.15, 0.35, 0.55, 0.75, 0.9])
def test_sigkill_in_any_stage_then_rerun_on_ray_gives_the_same_output(tmp_path, fraction):
    """Kill the Ray driver after ``fraction`` of all tasks (so in a different stage of the
    global steps each time), rerun on Ray: the same records and counters as a local run."""
    inputs = make_shards(tmp_path / "in", n_shards=8, copies=3)
    reference = _dedup_pipeline().run([str(inputs)], str(tmp_path / "reference"), workers=2)
    total = len(list((tmp_path / "reference" / ".datamill" / "done").iterdir()))
    out = tmp_path / "killed"
    code = ("import sys; from test_ray import _dedup_pipeline; "
            "_dedup_pipeline().run([sys.argv[1]], sys.argv[2], workers=2, executor='ray')")
    at_kill = _start_and_kill(code, [str(inputs), str(out)], out / ".datamill" / "done",
                              lambda markers: len(markers) >= int(total * fraction))
    # the driver died before it could finish (no stats.json); tasks Ray had already started may
    # still complete after the kill, so late in the run every marker can be there
    assert at_kill >= int(total * fraction) and not (out / ".datamill" / "stats.json").exists()
    stats = _dedup_pipeline().run([str(inputs)], str(out), executor="ray", workers=2)
    assert stats["resumed_tasks"] >= int(total * fraction)
    assert read_output(out) == read_output(tmp_path / "reference")
    assert _comparable(stats) == _comparable(reference)
    assert not list(out.rglob(".tmp-*"))


# --- an existing cluster (address) ---------------------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A one-node Ray cluster on 127.0.0.1, as `ray start --head` makes it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    log = tmp_path_factory.mktemp("ray-head") / "head.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([ray_bin, "start", "--head", "--block", f"--port={port}",
                                 "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false",
                                 f"--object-store-memory={200 * 2**20}", "--disable-usage-stats"],
                                env=_env(), start_new_session=True, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while "Ray runtime started" not in log.read_text():
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"ray start --head failed:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _end_session(proc.pid, grace=1)
        proc.wait()


def test_ray_and_local_give_the_same_output(tmp_path, ray_cluster):
    inputs = make_shards(tmp_path / "in")
    local = _dedup_pipeline().run([str(inputs)], str(tmp_path / "local"), workers=2)
    on_ray = _dedup_pipeline().run([str(inputs)], str(tmp_path / "ray"), executor="ray", address=ray_cluster)
    assert read_output(tmp_path / "local") == read_output(tmp_path / "ray")
    assert len(read_output(tmp_path / "ray")) > 0
    assert _comparable(local) == _comparable(on_ray)
    assert on_ray["globals"]["exact_dedup"]["duplicates"] > 0
    # the cluster is still up after the run: a second run (a resume with nothing left) joins it
    again = _dedup_pipeline().run([str(inputs)], str(tmp_path / "ray"), executor="ray", address=ray_cluster)
    assert again["resumed_tasks"] == len(list((tmp_path / "ray" / ".datamill" / "done").iterdir()))
    assert read_output(tmp_path / "ray") == read_output(tmp_path / "local")


def test_a_failing_task_names_its_stage_and_shard(tmp_path, ray_cluster):
    from datamill import Pipeline

    inputs = make_shards(tmp_path / "in", n_shards=2, copies=1)
    with pytest.raises(DatamillError, match=r"stage seg0, shard \d \(.*shard-0\d\.jsonl\) failed: "
                                            r"RuntimeError: model file missing"):
        Pipeline([FailingSetup()]).run([str(inputs)], str(tmp_path / "out"), executor="ray", address=ray_cluster)


def test_cli_runs_a_recipe_on_ray(tmp_path, ray_cluster):
    inputs = make_shards(tmp_path / "in", n_shards=4, copies=2)
    recipe = tmp_path / "dedup.yaml"
    recipe.write_text("name: dedup\nsteps:\n  - sample: {rate: 0.9, seed: 3}\n  - exact_dedup: {}\n"
                      "output: {format: jsonl, compression: gz}\n")
    results = {}
    for executor, extra in (("local", []), ("ray", ["--address", ray_cluster])):
        out = tmp_path / executor
        run = subprocess.run([sys.executable, "-m", "datamill.cli", "run", str(recipe), "-i", str(inputs),
                              "-o", str(out), "-w", "2", "--executor", executor, *extra],
                             env=_env(), capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "kept" in run.stdout and "exact_dedup" in run.stdout
        results[executor] = read_output(out)
    assert results["local"] == results["ray"] and results["ray"]


def test_address_without_ray_executor_is_refused(tmp_path):
    run = subprocess.run([sys.executable, "-m", "datamill.cli", "run", "x.yaml", "-i", str(tmp_path),
                          "-o", str(tmp_path / "o"), "--address", "127.0.0.1:1"],
                         env=_env(), capture_output=True, text=True)
    assert run.returncode == 2 and "--executor ray" in run.stderr


def test_an_address_where_nothing_listens_is_one_clear_line(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - sample: {rate: 0.5}\n")
    inputs = make_shards(tmp_path / "in", n_shards=1, copies=1)
    run = subprocess.run([sys.executable, "-m", "datamill.cli", "run", str(recipe), "-i", str(inputs),
                          "-o", str(tmp_path / "o"), "--executor", "ray", "--address", f"127.0.0.1:{port}"],
                         env=_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"could not connect to Ray at '127.0.0.1:{port}'" in run.stderr
    assert run.stderr.strip().count("\n") == 0, run.stderr


# --- the shipped recipes with global steps (slow: real extraction and language ID) ---------------
def _recipes_with_global_steps() -> list[Path]:
    import yaml

    from datamill.core.recipe import load_steps_registry

    load_steps_registry()
    out = []
    for path in sorted((HERE.parents[1] / "recipes").glob("*.yaml")):
        if "build/models/" in path.read_text():
            continue  # needs models trained first: tests/steps/quality/test_quality_recipes.py runs these
        doc = yaml.safe_load(path.read_text()) or {}
        names = [next(iter(s)) if isinstance(s, dict) else s for s in doc.get("steps", [])]
        if any(getattr(REGISTRY.get(n), "kind", "") == "global" for n in names):
            out.append(path)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("recipe", _recipes_with_global_steps(), ids=lambda p: p.name)
def test_recipes_with_global_steps_keep_the_same_records_on_both_executors(shared_data, tmp_path, recipe):
    import yaml

    from datamill.corpus import build_corpus

    corpus = tmp_path / "crawl"
    if (yaml.safe_load(recipe.read_text()).get("input") or {}).get("records"):
        # post-training recipes read chats and pairs: 120 real records of the matching kind
        source = "preference/llamafactory/dpo_en_demo.json" if "preference" in recipe.name \
            else "instruction_sft/llamafactory/alpaca_en_demo.json"
        rows = json.loads((shared_data / source).read_text(encoding="utf-8"))[:120]
        corpus.mkdir()
        for i in range(2):
            (corpus / f"part-{i}.json").write_text(json.dumps(rows[i::2]), encoding="utf-8")
    else:
        build_corpus(str(shared_data), str(corpus), files=4)
    kept = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        run = subprocess.run([sys.executable, "-m", "datamill.cli", "run", str(recipe), "-i", str(corpus),
                              "-o", str(out), "-w", "2", "--executor", executor, "-q"],
                             env=_env(), capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        kept[executor] = _kept(out)
    assert kept["local"] == kept["ray"] and kept["ray"]


def _kept(out: Path) -> list:
    records = []
    for path in sorted(out.glob("part-*")):
        if path.name.endswith(".parquet"):
            import pyarrow.parquet as pq

            records.extend(pq.read_table(path).to_pylist())
        elif path.name.endswith(".zst"):
            import io

            import zstandard

            with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as fh:
                records.extend(json.loads(line) for line in io.TextIOWrapper(fh, encoding="utf-8"))
        else:
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rt") as fh:
                records.extend(json.loads(line) for line in fh)
    return records


@pytest.mark.slow
def test_labels_and_batch_size_survive_the_trip_to_ray_workers(tmp_path):
    """Two instances of one step keep their labels (``where_am_i#2``) in Ray workers, and each
    sees batches of at most its declared ``Resources.batch_size`` (3), as on the local executor."""
    from resource_steps import WhereAmI

    from datamill import Pipeline

    (tmp_path / "in").mkdir()
    for s in range(2):
        (tmp_path / "in" / f"s{s}.jsonl").write_text(
            "".join(json.dumps({"id": f"{s}-{i}", "text": f"文档 {i} document"}) + "\n" for i in range(10)))
    Pipeline([WhereAmI(), WhereAmI()]).run([str(tmp_path / "in")], str(tmp_path / "out"), executor="ray",
                                           workers=2, batch_size=10)
    rows = read_output(tmp_path / "out")
    assert len(rows) == 20
    assert all(set(r["signals"]) == {"where_am_i", "where_am_i#2"} for r in rows)
    assert {r["signals"][k]["batch"] for r in rows for k in r["signals"]} == {1, 3}
