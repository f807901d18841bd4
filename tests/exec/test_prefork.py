"""CPU steps may load their read-only models in the parent before workers are forked
(``datamill.exec.local.prefork``); GPU steps never. Synthetic data written by the test."""

import gzip
import json
import logging
import os
from pathlib import Path

from datamill import Pipeline
from datamill.core.step import Resources, Tagger
from datamill.exec.local import LocalExecutor, prefork


class SharedModel(Tagger):
    """Tags each record with the pid that ran ``setup`` (the 'model load') and its own pid."""

    name = "shared_model"
    resources = Resources(batch_size=4)

    def setup(self):
        self.loaded_in = os.getpid()

    def prefork(self):
        self.ensure_setup()

    def tag(self, record):
        return {"loaded_in": self.loaded_in, "pid": os.getpid()}


class GPUModel(SharedModel):
    name = "gpu_model"
    resources = Resources(gpus=1)


class BrokenPrefork(SharedModel):
    name = "broken_prefork"

    def prefork(self):
        raise RuntimeError("no model here")


def write_shards(folder: Path, shards: int = 3) -> Path:
    folder.mkdir(parents=True)
    for s in range(shards):
        with open(folder / f"s{s}.jsonl", "w") as fh:
            for i in range(5):
                fh.write(json.dumps({"id": f"{s}-{i}", "text": f"document {i}. 第{i}篇文档。"}) + "\n")
    return folder


def rows(out: Path) -> list[dict]:
    res = []
    for p in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(p, "rt") as fh:
            res.extend(json.loads(line) for line in fh)
    return res


def test_forked_workers_share_the_parents_model(tmp_path):
    inp = write_shards(tmp_path / "in")
    Pipeline([SharedModel()]).run([str(inp)], str(tmp_path / "out"), workers=2)
    got = [r["signals"]["shared_model"] for r in rows(tmp_path / "out")]
    assert len(got) == 15
    assert {g["loaded_in"] for g in got} == {os.getpid()}  # loaded once, here
    assert all(g["pid"] != os.getpid() for g in got)  # but run in the workers


def test_gpu_and_stepless_hooks_are_left_alone(tmp_path, caplog):
    inp = write_shards(tmp_path / "in", shards=1)
    plan = Pipeline([GPUModel(), SharedModel(), BrokenPrefork()]).plan([str(inp)], str(tmp_path / "o"))
    with caplog.at_level(logging.WARNING, logger="datamill"):
        done = prefork(plan)
    assert done == ["shared_model"]
    assert not getattr(plan.steps[0], "_ready", False)  # the GPU step was not set up here
    assert "prefork of broken_prefork failed" in caplog.text


def test_a_failed_prefork_still_runs_in_the_workers(tmp_path):
    inp = write_shards(tmp_path / "in")
    ex = LocalExecutor(workers=2, progress=False)
    Pipeline([BrokenPrefork()]).run([str(inp)], str(tmp_path / "out"), workers=2)
    got = [r["signals"]["broken_prefork"] for r in rows(tmp_path / "out")]
    assert len(got) == 15 and all(g["loaded_in"] == g["pid"] != os.getpid() for g in got)
    assert ex.preforked == []


def test_real_language_id_preforks_its_models():
    from datamill.steps.langid import second_opinion
    from datamill.steps.langid.fasttext_lid import LanguageID

    step = LanguageID(languages=["en", "zh"])
    step.prefork()
    assert step._ready and second_opinion.loaded()
    assert step.identify(["The weather is lovely today and we walk in the park.",
                          "今天天气很好，我们去公园散步吧。"]) [0][0] == "en"
