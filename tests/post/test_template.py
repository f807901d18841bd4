import json

import pytest
from click.testing import CliRunner

from datamill.cli import main
from datamill.post.template import TemplateError, load_template, read_rows, render_dataset, template_file

ROWS = [
    {"sentence": "I loved this film", "label": 1, "why": "Loved is praise."},
    {"sentence": "Terrible acting and a dull plot", "label": 0, "why": "Terrible and dull are negative."},
    {"sentence": "A masterpiece", "label": 1, "why": "Masterpiece is strong praise."},
    {"sentence": "I want my two hours back", "label": 0, "why": "Wasted time is a complaint."},
    {"sentence": "Fine, nothing special", "label": 0, "why": "Nothing special is lukewarm."},
]

SPEC = {
    "name": "sst",
    "columns": {"text": "sentence"},
    "label_map": {0: "negative", 1: "positive"},
    "system": "You label sentiment.",
    "templates": [
        {"prompt": "Review: {{ text }}\n{{ options_block }}", "response": "{{ label }}"},
        {"prompt": "{{ text }}\nIs the writer happy?", "response": "{{ 'yes' if label == 'positive' else 'no' }}"},
    ],
    "cot": {"rationale_column": "why"},
}


def user(rec):
    return [m for m in rec["messages"] if m["role"] == "user"][-1]["content"]


def answer(rec):
    return rec["messages"][-1]["content"]


def test_zero_shot_maps_columns_labels_and_options():
    out = render_dataset(ROWS, SPEC, choose="cycle")
    assert len(out) == 5 and all(r["kind"] == "sft" for r in out)
    first = out[0]
    assert first["messages"][0] == {"role": "system", "content": "You label sentiment."}
    assert user(first) == "Review: I loved this film\nOPTIONS:\n- negative\n- positive"
    assert answer(first) == "positive"
    assert user(out[1]) == "Terrible acting and a dull plot\nIs the writer happy?" and answer(out[1]) == "no"
    assert first["metadata"] == {"template": "sst/t1", "variant": "zero_shot", "row": 0, "source": "",
                                 "label": "positive"}
    assert len({r["id"] for r in out}) == 5


def test_random_choice_is_seeded_and_all_gives_every_template():
    a = render_dataset(ROWS, SPEC, seed=3)
    b = render_dataset(ROWS, SPEC, seed=3)
    assert a == b
    every = render_dataset(ROWS, SPEC, choose="all")
    assert len(every) == 10 and len({r["id"] for r in every}) == 10


def test_few_shot_uses_other_rows_inline_and_as_chat():
    out = render_dataset(ROWS, SPEC, variants=["few_shot"], k=2, choose="cycle", seed=1)
    zero = render_dataset(ROWS, SPEC, choose="cycle")
    for i, r in enumerate(out):
        shots = r["metadata"]["few_shot_rows"]
        assert len(shots) == 2 and i not in shots
        prompt = user(r)
        assert prompt.count("\n\n") >= 2 and prompt.endswith("\n\n" + user(zero[i]))
        assert answer(r) == answer(zero[i])
        for j in shots:
            assert ROWS[j]["sentence"] in prompt
    chat = render_dataset(ROWS, SPEC, variants=["few_shot"], k=2, few_shot_style="chat")
    roles = [m["role"] for m in chat[0]["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]


def test_cot_adds_trigger_and_rationale_and_needs_the_column():
    out = render_dataset(ROWS, SPEC, variants=["cot"], choose="cycle")
    assert user(out[0]).endswith("Let's think step by step.")
    assert answer(out[0]) == "Loved is praise.\nSo the answer is positive."
    few_cot = render_dataset(ROWS, SPEC, variants=["few_shot"], k=1, cot=True)
    assert few_cot[0]["metadata"]["variant"] == "few_shot_cot"
    assert "So the answer is" in user(few_cot[0])
    no_rationale = dict(SPEC, cot={})
    with pytest.raises(TemplateError, match="rationale"):
        render_dataset(ROWS, no_rationale, variants=["cot"])


def test_errors_are_clear():
    with pytest.raises(TemplateError, match="'nope' is undefined.*sentence"):
        render_dataset(ROWS, "{{ nope }}")
    with pytest.raises(TemplateError, match="syntax error"):
        load_template("{{ broken")
    with pytest.raises(TemplateError, match="column 'missing'"):
        render_dataset(ROWS, dict(SPEC, columns={"text": "missing"}))
    with pytest.raises(TemplateError, match="unknown variant"):
        render_dataset(ROWS, SPEC, variants=["two_shot"])
    with pytest.raises(TemplateError, match="not found"):
        load_template("nope.yaml")


def test_reads_jsonl_csv_parquet_and_yaml_templates(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "d.csv").write_text("sentence,label,why\n" + "".join(f'"{r["sentence"]}",{r["label"]},{r["why"]}\n'
                                                                    for r in ROWS))
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "d.parquet")
    for name in ("d.jsonl", "d.csv", "d.parquet"):
        rows = read_rows(tmp_path / name)
        assert [r["sentence"] for r in rows] == [r["sentence"] for r in ROWS]
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(SPEC))
    csv_out = template_file(tmp_path / "d.csv", tmp_path / "t.yaml", choose="cycle")
    assert answer(csv_out[0]) == "positive"  # "1" from CSV maps like 1 from JSON
    (tmp_path / "bad.yaml").write_text("templates: [\n")
    with pytest.raises(TemplateError, match="bad.yaml:"):
        load_template(tmp_path / "bad.yaml")
    (tmp_path / "p.j2").write_text("Say: {{ sentence }}\n")
    plain = template_file(tmp_path / "d.jsonl", tmp_path / "p.j2")
    assert user(plain[0]) == "Say: I loved this film" and answer(plain[0]) == "1"


def test_cli_template(tmp_path):
    import yaml

    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(SPEC))
    runner = CliRunner()
    res = runner.invoke(main, ["template", str(tmp_path / "d.jsonl"), str(tmp_path / "t.yaml"),
                               str(tmp_path / "out.jsonl"), "--all-variants", "--few-shot", "2"])
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 15 and "zero_shot 5, few_shot 5, cot 5" in res.output
    res = runner.invoke(main, ["template", str(tmp_path / "d.jsonl"), "{{ text }}", str(tmp_path / "o.jsonl"),
                               "--column", "text=sentence"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["template", str(tmp_path / "d.jsonl"), "{{ nope }}", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "undefined" in res.output
    assert runner.invoke(main, ["template", "--help"]).exit_code == 0


def test_cot_with_an_empty_rationale_is_skipped_not_written_bare():
    from datamill.post.template import render_dataset

    rows = [{"question": "1+2=?", "label": "3", "rationale": "1 加 2 等于 3。"},
            {"question": "2+2=?", "label": "4", "rationale": "  "},
            {"question": "3+3=?", "label": "6", "rationale": None},
            {"question": "4+4=?", "label": "8", "rationale": "4 加 4 等于 8。"}]
    ts = {"name": "math", "templates": [{"prompt": "{{ question }}", "response": "{{ label }}"}],
          "cot": {"rationale_column": "rationale", "response": "{{ rationale }}\n所以答案是：{{ label }}"}}
    skipped: list = []
    out = render_dataset(rows, ts, variants=["cot"], skipped=skipped)
    assert [r["metadata"]["row"] for r in out] == [0, 3]
    assert all(not r["messages"][-1]["content"].startswith("\n所以答案是") for r in out)
    assert [(i, v) for i, v, _ in skipped] == [(1, "cot"), (2, "cot")] and "empty rationale" in skipped[0][2]
    few = render_dataset(rows, ts, variants=["few_shot"], cot=True, k=3, skipped=[])
    for r in few:
        assert "2+2=?" not in r["messages"][-2]["content"] and "3+3=?" not in r["messages"][-2]["content"]
