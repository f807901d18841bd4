"""The LLM recipes end to end with `datamill run` against the real local model: --set
overrides, the health check before the run, resume without repeating a call, outputs that
`datamill validate` passes and `datamill export` accepts, and API keys written nowhere."""

import gzip
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]  # the repository (not `from conftest import`: several conftest modules)
from datamill.cli import main
from datamill.llm.serve import free_port

RECIPES = REPO / "recipes"


def seeds_file(shared_data, tmp_path, n=12):
    src = shared_data / "instruction_sft" / "alpaca" / "seed_tasks.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines()[:n]
    lines.append(json.dumps({"id": "zh_seed", "instruction": "用一句话解释什么是光合作用。",
                             "instances": [{"input": "", "output": "光合作用是植物利用阳光把二氧化碳和水变成养分的过程。"}],
                             "is_classification": False}, ensure_ascii=False))
    out = tmp_path / "seeds.jsonl"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def prompts_file(tmp_path):
    rows = [{"instruction": "Name three primary colours.", "output": "Red, yellow and blue."},
            {"instruction": "What is 7 times 6?", "output": "42"},
            {"instruction": "用一句话介绍长城。", "output": "长城是中国古代修建的防御工事。"}]
    out = tmp_path / "prompts.jsonl"
    out.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return out


def read_out(folder):
    recs = []
    for p in sorted(Path(folder).glob("part-*.jsonl*")):
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rt", encoding="utf-8") as fh:
            recs += [json.loads(line) for line in fh if line.strip()]
    return recs


@pytest.fixture
def llm_env(llm_proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAMILL_LLM_BASE_URL", llm_proxy.base_url)
    monkeypatch.setenv("DATAMILL_LLM_CACHE", str(tmp_path / "cache"))
    return llm_proxy


def run_cli(*args):
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return res


def test_self_instruct_recipe_resume_validate_export(shared_data, tmp_path, llm_env, monkeypatch):
    secret = "sk-recipe-test-" + os.urandom(6).hex()
    monkeypatch.setenv("DATAMILL_LLM_API_KEY", secret)
    seeds = seeds_file(shared_data, tmp_path)
    out = tmp_path / "out"
    args = ["run", RECIPES / "self-instruct.yaml", "-i", seeds, "-o", out, "-q",
            "--set", "self_instruct.num_instructions=3", "--set", "self_instruct.max_requests_factor=3",
            "--set", "self_instruct.num_examples=3", "--set", "self_instruct.machine_examples=1",
            "--set", "llm.max_tokens=80", "--set", "llm.max_concurrency=2"]
    res = run_cli(*args)
    assert res.exit_code == 0, res.output
    calls = llm_env.calls()
    assert 1 <= calls <= 9
    stats = json.loads((out / ".datamill" / "stats.json").read_text())
    si = next(s for s in stats["steps"] if s["step"] == "self_instruct")
    assert si["counters"]["llm"]["calls"] == calls and si["counters"]["llm"]["prompt_tokens"] > 0
    recs = read_out(out)
    assert len(recs) <= 3
    for r in recs:
        assert r["kind"] == "sft" and r["signals"]["self_instruct"]["rouge_l_max"] < 0.7
        assert r["metadata"]["llm"]["self_instruct"]["template"] == "self_instruct/v1"
    # the same run again from scratch: every reply comes from the cache, no call is made
    res = run_cli(*args, "--overwrite")
    assert res.exit_code == 0, res.output
    assert llm_env.calls() == calls
    assert read_out(out) == recs
    # `datamill validate` passes and `datamill export` accepts the output
    if recs:
        part = next(out.glob("part-*"))
        v = run_cli("validate", part, "--strict")
        assert v.exit_code == 0, v.output
        e = run_cli("export", part, tmp_path / "export", "--trainer", "trl")
        assert e.exit_code == 0, e.output
    # the key went to the server only: not in the output, the run's metadata or the cache
    for root in (out, tmp_path / "cache"):
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                data = Path(dirpath, f).read_bytes()
                assert secret.encode() not in data, f"API key written to {dirpath}/{f}"


def test_ultrafeedback_recipe(tmp_path, llm_env):
    out = tmp_path / "uf"
    res = run_cli("run", RECIPES / "ultrafeedback.yaml", "-i", prompts_file(tmp_path), "-o", out, "-q",
                  "--set", "llm.max_tokens=64", "--set", "llm_judge.criteria=[helpfulness]",
                  "--set", "llm_judge.on_parse_error=keep", "--set", "to_preference.min_margin=0",
                  "--keep-dropped")
    assert res.exit_code == 0, res.output
    stats = json.loads((out / ".datamill" / "stats.json").read_text())
    steps = {s["step"]: s for s in stats["steps"]}
    assert steps["generate"]["out"] == 3 and steps["llm_judge"]["in"] == 3
    recs = read_out(out)
    assert len(recs) == steps["post_validate"]["out"]
    assert all(r["kind"] == "preference" for r in recs)
    if recs:
        v = run_cli("validate", next(out.glob("part-*")), "--strict")
        assert v.exit_code == 0, v.output


def test_health_check_before_the_run(tmp_path, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("DATAMILL_LLM_BASE_URL", dead)
    out = tmp_path / "never"
    res = CliRunner().invoke(main, ["run", str(RECIPES / "distill.yaml"), "-i", str(prompts_file(tmp_path)),
                                    "-o", str(out), "-q"])
    assert res.exit_code == 2
    assert dead in res.output and "unreachable" in res.output
    assert not out.exists()


def test_killed_run_resumes_without_repeating_calls(tmp_path, llm_env):
    import signal
    import subprocess
    import sys
    import time

    rows = [{"instruction": f"Name a colour, number {i}.", "output": "red"} for i in range(8)]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "r.yaml").write_text("input: {records: auto}\nllm: {max_tokens: 6, max_concurrency: 2}\n"
                                     "steps:\n  - generate: {n: 2}\noutput: {format: jsonl, compression: none}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "datamill", "run", str(tmp_path / "r.yaml"), "-i", str(tmp_path / "p.jsonl"),
           "-o", str(tmp_path / "out"), "-q"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    deadline = time.time() + 240
    while llm_env.calls() < 6 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = llm_env.calls()
    assert first < 16, "the run finished before it could be killed"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    total = llm_env.calls()
    # 16 distinct requests; only those in flight at the kill (at most max_concurrency) are repeated
    assert 16 <= total <= 16 + 2
    assert len(read_out(tmp_path / "out")) == 8
