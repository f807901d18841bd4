import gzip
import json
import os
import pickle

import pytest

from datamill import Pipeline
from datamill.core.recipe import build_step
from datamill.core.errors import RecipeError
from datamill.core.stats import StepStats
from datamill.core.step import REGISTRY, StepContext
from datamill.steps.dedup.paragraph import ParagraphDedup, bloom_size, normalize_unit, split_units

BOILER = "Subscribe to our newsletter for weekly updates and offers"
FOOTER = "Copyright 2024 Example Media Group. All rights reserved."


def _w(k):
    """A word per number: CCNet normalisation maps every digit to 0, so numbers alone would
    make these lines duplicates of each other."""
    return "".join(chr(97 + int(d)) for d in str(k)) + "x"


def _doc(i, body, extra=()):
    return "\n".join([f"Title of document {_w(i)} with its own words"] + list(extra) + body)


def _corpus():
    """Three shards; shared boilerplate lines across and within shards."""
    shards = []
    k = 0
    for s in range(3):
        rows = []
        for j in range(6):
            body = [f"Unique sentence {_w(k)} about topic {_w(k * 7)} and nothing else at all.",
                    BOILER, f"Another unique line for record {_w(k)} in shard {_w(s)}.", FOOTER]
            if j == 2:
                body.append(BOILER)  # a repeat inside the same document
            rows.append({"id": f"s{s}-r{j}", "text": _doc(k, body)})
            k += 1
        shards.append(rows)
    return shards


def _write(folder, shards):
    os.makedirs(folder, exist_ok=True)
    for s, rows in enumerate(shards):
        with open(os.path.join(folder, f"part-{s}.jsonl"), "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")


def _read(out):
    rows = []
    for name in sorted(os.listdir(out)):
        if name.startswith("part-"):
            with gzip.open(os.path.join(out, name), "rt", encoding="utf-8") as fh:
                rows += [json.loads(line) for line in fh]
    return rows


def test_registered_and_validated():
    assert REGISTRY["paragraph_dedup"] is ParagraphDedup
    with pytest.raises(RecipeError):
        build_step(ParagraphDedup, {"method": "fuzzy"})
    with pytest.raises(RecipeError):
        build_step(ParagraphDedup, {"bloom_fp_rate": 1.5})
    step = ParagraphDedup(unit="paragraph", method="bloom")
    assert pickle.loads(pickle.dumps(step)).params == step.params
    assert [s.kind for s in ParagraphDedup().stages()] == ["shard", "partition"]
    assert [s.kind for s in ParagraphDedup(method="bloom").stages()] == ["shard", "single"]


@pytest.mark.parametrize("unit", ["line", "paragraph"])
def test_split_units_cover_text(unit):
    texts = ["", "one", "a\nb\n", "a\n\n\nb  \n \n c\n", "\n\nx\r\ny\n\n", "p1 l1\np1 l2\n\np2\n\n\n\np3"]
    for text in texts:
        spans = split_units(text, unit)
        assert "".join(text[s:e] for s, e, _ in spans) == text
        assert all(text[s:e].startswith(c) for s, e, c in spans if c)
    assert [c for *_, c in split_units("p1 l1\np1 l2\n\np2", "paragraph")] == ["p1 l1\np1 l2", "p2"]
    assert [c for *_, c in split_units("a\n\nb", "line")] == ["a", "", "b"]


def test_normalize_unit_ccnet_style():
    assert normalize_unit("  Héllo,   WORLD! 2024 ") == normalize_unit("hello world 1999") == "hello world 0000"
    assert normalize_unit("!!! ---") == ""


def test_bloom_size():
    m, k = bloom_size(1_000_000, 1e-4)
    assert 19_000_000 < m < 19_500_000 and k == 13


@pytest.mark.parametrize("method", ["exact", "bloom"])
def test_pipeline_first_occurrence_kept_and_deterministic(tmp_path, method):
    _write(tmp_path / "in", _corpus())
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        stats = Pipeline([ParagraphDedup(method=method, min_chars=0, partitions=3)]).run(
            [str(tmp_path / "in")], str(out), workers=workers)
        outs.append(_read(out))
    assert outs[0] == outs[1]
    rows = {r["id"]: r for r in outs[0]}
    assert len(rows) == 18
    first = rows["s0-r0"]["text"]
    assert BOILER in first and FOOTER in first
    for rid, r in rows.items():
        if rid != "s0-r0":
            assert BOILER not in r["text"] and FOOTER not in r["text"], rid
            assert "Unique sentence" in r["text"]
    assert rows["s0-r2"]["signals"]["paragraph_dedup"]["dup_units"] == 3  # both boilerplate copies + footer
    g = stats["globals"]["paragraph_dedup"]
    assert g["units"] == 18 * 5 + 3 and g["duplicate_units"] == 17 * 2 + 3
    step_stats = next(s for s in stats["steps"] if s["step"] == "paragraph_dedup")
    assert step_stats["counters"]["paragraph_dedup"]["units_removed"] == 37
    assert step_stats["counters"]["paragraph_dedup"]["chars_removed"] == g["duplicate_chars"]


def test_min_chars_drop_and_tag_mode(tmp_path):
    line = "A line of boilerplate that every page of this site repeats verbatim."
    shards = [[{"id": "a", "text": line + "\nThe first page has its own long paragraph of text here."},
               {"id": "b", "text": line},                    # nothing left: dropped
               {"id": "c", "text": line + "\nshort"},          # 5 chars left < 20: dropped
               {"id": "d", "text": "tiny"}]]                  # short but untouched: kept
    _write(tmp_path / "in", shards)
    stats = Pipeline([ParagraphDedup(min_chars=20)]).run([str(tmp_path / "in")], str(tmp_path / "out"))
    ids = [r["id"] for r in _read(tmp_path / "out")]
    assert ids == ["a", "d"]
    step = next(s for s in stats["steps"] if s["step"] == "paragraph_dedup")
    assert step["dropped"] == {"paragraph_dedup_too_short": 2}
    stats = Pipeline([ParagraphDedup(action="tag")]).run([str(tmp_path / "in")], str(tmp_path / "tag"))
    rows = {r["id"]: r for r in _read(tmp_path / "tag")}
    assert len(rows) == 4 and rows["b"]["text"] == line
    assert rows["c"]["signals"]["paragraph_dedup"]["dup_spans"] == [[0, len(line) + 1]]
    assert rows["b"]["signals"]["paragraph_dedup"]["dup_spans"] == [[0, len(line)]]


def test_min_words_and_paragraph_unit(tmp_path):
    para = "This whole paragraph is shared.\nIt has two lines."
    shards = [[{"id": "a", "text": "Intro of a.\n\n" + para},
               {"id": "b", "text": para + "\n\n\nOnly three words"},
               {"id": "c", "text": "Intro of c.\nIt has two lines.\n\nMore text in c, enough words."}]]
    _write(tmp_path / "in", shards)
    Pipeline([ParagraphDedup(unit="paragraph", min_chars=0, min_words=4)]).run(
        [str(tmp_path / "in")], str(tmp_path / "out"))
    rows = {r["id"]: r["text"] for r in _read(tmp_path / "out")}
    assert set(rows) == {"a", "c"}       # b lost its paragraph and has 3 words left
    assert "It has two lines." in rows["c"]  # a line is not a paragraph


def _run_direct(step, shards, tmp_path):
    state = str(tmp_path / "state")
    os.makedirs(state, exist_ok=True)
    for s, rows in enumerate(shards):
        step.run_stage("map", s, state, len(shards), iter(rows))
    for st in step.stages()[1:]:
        for i in range(st.partitions if st.kind == "partition" else 1):
            step.run_stage(st.name, i, state, len(shards))
    out = []
    for s, rows in enumerate(shards):
        stats = StepStats("paragraph_dedup", "global")
        out += list(step.apply_shard(iter(rows), s, state, stats, StepContext()))
    return out


def test_bad_inputs_do_not_crash(tmp_path):
    big_line = "word " * 40 + "\n"
    big = (big_line * 30_000) + "end"  # ~6 MB, one repeated line
    surrogate = "bad \ud800 surrogate line here\nother"
    rows = [{"id": "empty", "text": ""}, {"id": "one", "text": "word"}, {"id": "none", "text": None},
            {"id": "notext"}, {"id": "big", "text": big}, {"id": "sur", "text": surrogate},
            {"id": "sur2", "text": surrogate + "\nmore"}, {"id": "ws", "text": "\n\n   \n"}]
    for method in ("exact", "bloom"):
        out = _run_direct(ParagraphDedup(method=method, min_chars=0, partitions=2),
                          [[dict(r) for r in rows]], tmp_path / method)
        got = {r["id"]: r for r in out}
        assert got["big"]["text"] == big_line + "end" or got["big"]["text"] == big_line.rstrip("\n") + "\nend"
        assert got["big"]["signals"]["paragraph_dedup"]["dup_units"] == 29_999
        assert got["sur2"]["text"] == "more" and got["sur"]["text"] == surrogate
        assert got["empty"]["text"] == "" and got["one"]["text"] == "word" and "notext" in got
        assert got["ws"]["signals"]["paragraph_dedup"]["units"] == 0


def test_dolma_expected_spans(tmp_path, shared_data):
    folder = shared_data / "near_duplicates" / "dolma_dedupe"
    with gzip.open(folder / "documents-000.json.gz", "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    with gzip.open(folder / "expected-dedupe-paragraphs.json.gz", "rt", encoding="utf-8") as fh:
        texts = {d["id"]: d["text"] for d in docs}
        expected = {o["id"]: [[s, min(e, len(texts[o["id"]]))] for s, e, _ in o["attributes"]["bff_duplicate_paragraph_spans"]]
                    for o in map(json.loads, fh)}
    _write(tmp_path / "in", [[{"id": d["id"], "text": d["text"]} for d in docs]])
    Pipeline([ParagraphDedup(normalize=False, action="tag")]).run([str(tmp_path / "in")], str(tmp_path / "out"))
    got = {r["id"]: r["signals"]["paragraph_dedup"]["dup_spans"] for r in _read(tmp_path / "out")}
    assert got == expected
    assert sum(map(len, got.values())) == 43
