import json
from collections import Counter

import pytest
from click.testing import CliRunner

from datamill.cli import main
from datamill.post.mix import MixError, MixSource, format_mix, mix, parse_source_spec, plan_mix
from datamill.post.schema import message, sft


def words(texts):
    return [len(t.split()) for t in texts]


def source(name, n, size=10):
    """n records of ``size`` tokens each (by the word counter: user turn + answer)."""
    half = size // 2
    return [sft(f"{name}{i}", [message("user", " ".join(["w"] * half)), message("assistant", " ".join(["w"] * (size - half)))])
            for i in range(n)]


def test_plan_caps_epochs_and_shares_the_rest():
    sizes = {"a": (100, 1000), "b": (100, 10_000)}
    plan = plan_mix(sizes, {"a": 1, "b": 1}, budget=6000, max_epochs=2.0)
    a, b = plan.sources
    assert a.capped and a.target == 2000 and a.epochs == 2.0      # wanted 3000, capped at 2 epochs
    assert b.target == pytest.approx(4000) and b.epochs == pytest.approx(0.4)
    assert plan.short_by == 0
    short = plan_mix(sizes, {"a": 1, "b": 1}, budget=50_000, max_epochs=1.0)
    assert short.total_target == 11_000 and short.short_by == 39_000 and "short" in " ".join(short.notes)


def test_plan_without_budget_keeps_weights_exactly():
    plan = plan_mix({"a": (10, 1000), "b": (10, 1000)}, {"a": 3, "b": 1})
    a, b = plan.sources
    assert a.target == 1000 and b.target == pytest.approx(1000 / 3)
    assert a.weight == 0.75
    rec = plan_mix({"a": (10, 1), "b": (40, 1)}, {"a": 1, "b": 1}, budget=30, unit="records", max_epochs=2)
    assert [s.target for s in rec.sources] == [15, 15] and rec.sources[0].epochs == 1.5
    capped = plan_mix({"a": (10, 1), "b": (40, 1)}, {"a": 1, "b": 1}, budget=30, unit="records")
    assert [s.target for s in capped.sources] == [10, 20] and capped.sources[0].capped
    with pytest.raises(MixError):
        plan_mix({"a": (1, 1)}, {"a": -1})
    with pytest.raises(MixError):
        plan_mix({"a": (1, 1)}, {"a": 0})


def test_mix_upsamples_with_unique_ids_and_hits_the_budget():
    srcs = [MixSource("small", source("s", 10), weight=1, max_epochs=3),
            MixSource("big", source("b", 200), weight=1)]
    out, plan = mix(srcs, budget_tokens=500, count_tokens=words, seed=1)
    by = Counter(r["metadata"]["mix_source"] for r in out)
    assert by == {"small": 25, "big": 25}  # 250 tokens each: 2.5 epochs of small
    ids = [r["id"] for r in out]
    assert len(ids) == len(set(ids))
    assert sum(1 for i in ids if i.endswith("#ep3")) == 5
    assert all(r["metadata"]["mix_origin_id"] + "#ep2" == r["id"] for r in out if r["id"].endswith("#ep2"))
    assert plan.sources[0].out_tokens == 250 and plan.sources[1].out_tokens == 250
    again, _ = mix(srcs, budget_tokens=500, count_tokens=words, seed=1)
    assert [r["id"] for r in again] == ids
    table = format_mix(plan)
    assert "small" in table and "total" in table and "2.50" in table and "50.0%" in table


def test_record_budget_and_specs(tmp_path):
    out, plan = mix([MixSource("a", source("a", 5)), MixSource("b", source("b", 50))], budget_records=20,
                    count_tokens=words, max_epochs=1.0)
    by = Counter(r["metadata"]["mix_source"] for r in out)
    assert by == {"a": 5, "b": 15} and plan.unit == "records"
    s = parse_source_spec("alp=/data/a.jsonl:0.3:2")
    assert (s.name, s.path, s.weight, s.max_epochs) == ("alp", "/data/a.jsonl", 0.3, 2.0)
    s = parse_source_spec("/data/b.json")
    assert (s.name, s.weight, s.max_epochs) == ("b", 1.0, None)
    with pytest.raises(MixError):
        mix([MixSource("a", source("a", 2)), MixSource("a", source("a", 2))], count_tokens=words)


def test_cli_mix_with_config_and_sources(tmp_path):
    for name, n in (("a", 6), ("b", 30)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in source(name, n)))
    (tmp_path / "mix.yaml").write_text("budget_records: 24\nmax_epochs: 2\nsources:\n"
                                       "  - {name: a, path: a.jsonl, weight: 1}\n"
                                       "  - {name: b, path: b.jsonl, weight: 1}\n")
    runner = CliRunner()
    res = runner.invoke(main, ["mix", str(tmp_path / "out.jsonl"), "--config", str(tmp_path / "mix.yaml")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert Counter(r["metadata"]["mix_source"] for r in rows) == {"a": 12, "b": 12}
    assert "2.00" in res.output and "total" in res.output
    res = runner.invoke(main, ["mix", str(tmp_path / "o2.jsonl"), "-s", f"{tmp_path / 'a.jsonl'}:1",
                               "-s", f"{tmp_path / 'b.jsonl'}:3", "--budget-tokens", "200"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output
    res = runner.invoke(main, ["mix", str(tmp_path / "o3.jsonl"), "--config", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "not found" in res.output
    assert runner.invoke(main, ["mix", "--help"]).exit_code == 0
