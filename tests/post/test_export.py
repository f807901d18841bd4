import json

import pytest
import yaml
from click.testing import CliRunner

from datamill.cli import main
from datamill.post.export import (ExportError, export_for_trainer, load_chat_template, pack_lengths,
                                  record_lengths, render_record)
from datamill.post.schema import kto, message, preference, sft


def words(texts):
    return [len(t.split()) for t in texts]


SFT = [sft(f"s{i}", [message("system", "Be brief."), message("user", f"question {i} " * (i + 1)),
                     message("assistant", f"answer {i} " * (2 * i + 1))]) for i in range(6)]
PREF = [preference(f"p{i}", [message("user", f"q{i}")], [message("assistant", "good answer")],
                   [message("assistant", "bad")]) for i in range(3)]


def test_chatml_rendering_matches_the_reference_layout():
    t = load_chat_template()
    text = t.render([message("user", "Hi"), message("assistant", "Hello!")])
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
    assert t.render([message("user", "Hi")], add_generation_prompt=True).endswith("<|im_start|>assistant\n")
    calls = t.render([message("assistant", "", tool_calls=[{"name": "f", "arguments": {"x": 1}}])])
    assert '{"name": "f", "arguments": {"x": 1}}' in calls


def test_templates_from_text_file_and_tokenizer_config(tmp_path):
    src = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}"
    assert load_chat_template(src).render([message("user", "a")]) == "[user]a"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": src, "eos_token": "</s>",
                                                                "bos_token": {"content": "<s>"}}))
    t = load_chat_template(tmp_path)
    assert t.render([message("user", "a")]) == "[user]a</s>" and t.bos_token == "<s>"
    (tmp_path / "t.jinja").write_text(src)
    assert load_chat_template(tmp_path / "t.jinja").render([message("user", "b")]) == "[user]b"
    with pytest.raises(ExportError, match="syntax"):
        load_chat_template("{% for %}").render([])
    with pytest.raises(ExportError, match="raised: no system"):
        load_chat_template("{{ raise_exception('no system') }}").render([])
    with pytest.raises(ExportError, match="not a built-in"):
        load_chat_template(tmp_path / "missing.jinja")


def test_render_record_splits_prompt_and_answers():
    r = render_record(PREF[0])
    assert r["prompt"].endswith("<|im_start|>assistant\n")
    assert r["chosen"] == "good answer<|im_end|>\n" and r["rejected"] == "bad<|im_end|>\n"
    k = render_record(kto("k", [message("user", "q")], [message("assistant", "c")], True))
    assert k["completion"] == "c<|im_end|>\n"
    lens = record_lengths(PREF, count=words)
    assert lens["sequence"] == [a + max(b, c) for a, b, c in zip(lens["prompt"], lens["chosen"], lens["rejected"])]


def test_packing_best_fit_decreasing_and_waste_report():
    res = pack_lengths([6, 5, 4, 3, 2, 2, 12], 10)
    assert sorted(i for p in res.packs for i in p) == list(range(7))
    assert all(sum(res.lengths[i] for i in p) <= 10 for p in res.packs)
    rep = res.report
    assert rep["too_long"] == 1 and rep["truncated_tokens"] == 2 and rep["tokens"] == 32
    assert rep["sequences"] == 4  # 10 | 6+4 | 5+3+2 | 2
    assert rep["padding_tokens"] == 8 and rep["padding_waste"] == 0.2
    assert rep["unpacked_padding_tokens"] == 7 * 10 - 32
    dropped = pack_lengths([6, 12], 10, overflow="drop").report
    assert dropped["samples_packed"] == 1 and dropped["sequences"] == 1
    big = pack_lengths([(i * 37) % 500 + 1 for i in range(20_000)], 2048)
    assert big.report["padding_waste"] < 0.01


@pytest.mark.parametrize("trainer", ["trl", "llamafactory", "axolotl"])
def test_export_each_trainer(tmp_path, trainer):
    rep = export_for_trainer(SFT, tmp_path, trainer, pack=64, count=words, write_text=True)
    assert rep["records"] == 6 and rep["packing"]["sequences"] >= 1
    for f in rep["files"]:
        assert (tmp_path / f).exists(), f
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert report["tokens"]["sequence"]["count"] == 6
    text = [json.loads(x) for x in (tmp_path / "text.jsonl").read_text().splitlines()]
    assert text[0]["text"].startswith("<|im_start|>system\nBe brief.")
    if trainer == "trl":
        rows = [json.loads(x) for x in (tmp_path / "train.jsonl").read_text().splitlines()]
        assert rows[0]["messages"][0] == {"role": "system", "content": "Be brief."}
        cfg = yaml.safe_load((tmp_path / "trl_config.yaml").read_text())
        assert cfg["args"]["packing"] is True and cfg["args"]["max_length"] == 64
    elif trainer == "llamafactory":
        info = json.loads((tmp_path / "dataset_info.json").read_text())
        assert info["datamill"]["file_name"] == "datamill.json" and info["datamill"]["formatting"] == "sharegpt"
        cfg = yaml.safe_load((tmp_path / "llamafactory.yaml").read_text())
        assert cfg["dataset"] == "datamill" and cfg["template"] == "chatml" and cfg["packing"] is True
    else:
        rows = [json.loads(x) for x in (tmp_path / "data.jsonl").read_text().splitlines()]
        assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
        cfg = yaml.safe_load((tmp_path / "axolotl.yaml").read_text())
        assert cfg["chat_template"] == "chatml" and cfg["sample_packing"] is True
        assert cfg["datasets"][0]["type"] == "chat_template" and cfg["sequence_len"] == 64


def test_axolotl_preferences_custom_template_and_refusals(tmp_path):
    rep = export_for_trainer(PREF, tmp_path / "ax", "axolotl", chat_template="{{ messages[0].content }}", count=words)
    row = json.loads((tmp_path / "ax" / "data.jsonl").read_text().splitlines()[0])
    assert row == {"messages": [{"role": "user", "content": "q0"}],
                   "chosen": {"role": "assistant", "content": "good answer"},
                   "rejected": {"role": "assistant", "content": "bad"}}
    cfg = yaml.safe_load((tmp_path / "ax" / "axolotl.yaml").read_text())
    assert cfg["rl"] == "dpo" and cfg["chat_template"] == "jinja" and "chat_template_jinja" in cfg
    assert cfg["datasets"][0]["type"] == "chat_template.default"
    assert rep["kind"] == "preference"
    lf = export_for_trainer(PREF, tmp_path / "lf", "llamafactory", count=words)
    assert yaml.safe_load((tmp_path / "lf" / "llamafactory.yaml").read_text())["stage"] == "dpo"
    assert json.loads((tmp_path / "lf" / "dataset_info.json").read_text())["datamill"]["ranking"] is True
    with pytest.raises(ExportError, match="mixes"):
        export_for_trainer(SFT + PREF, tmp_path / "x", "trl", count=words)
    with pytest.raises(ExportError, match="KTO"):
        export_for_trainer([kto("k", [message("user", "q")], [message("assistant", "c")], True)],
                           tmp_path / "y", "axolotl", count=words)
    with pytest.raises(ExportError, match="unknown trainer"):
        export_for_trainer(SFT, tmp_path / "z", "megatron", count=words)


def test_cli_export_on_shared_data_with_real_tokenizer(tmp_path, shared_data):
    src = shared_data / "instruction_sft" / "llamafactory" / "identity.json"
    runner = CliRunner()
    res = runner.invoke(main, ["export", str(src), str(tmp_path / "out"), "--trainer", "llamafactory",
                               "--pack", "1024", "--chat-template", "llama3"])
    assert res.exit_code == 0, res.output
    assert "91 sft records" in res.output and "waste" in res.output
    report = json.loads((tmp_path / "out" / "export_report.json").read_text())
    assert report["packing"]["samples"] == 91 and report["packing"]["padding_waste"] < 0.2
    assert 0 < report["tokens"]["sequence"]["mean"] < 500
    res = runner.invoke(main, ["export", str(src), str(tmp_path / "o2"), "--trainer", "trl",
                               "--chat-template", str(tmp_path / "missing.jinja")])
    assert res.exit_code == 2 and "not a built-in" in res.output
    assert runner.invoke(main, ["export", "--help"]).exit_code == 0
