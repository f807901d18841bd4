"""The HTML report end to end: self-contained, escaped, every section present or explained."""

import re

import pytest

from datamill.catalog import Catalog
from datamill.report.build import build_report
from report_helpers import hashing_embed, make_run


def _assert_self_contained(html: str):
    assert "<script" not in html.lower().replace("&lt;script", "")
    assert not re.search(r"""<(link|img|iframe|source|object)[^>]+(href|src)=["']?(https?:)?//""", html, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html)
    for uri in re.findall(r'<img class="plot" src="([^"]+)"', html):
        assert uri.startswith("data:image/svg+xml;base64,")


def test_report_on_a_run_output(tmp_path, report_run):
    _, _, out = report_run
    html_path = tmp_path / "r" / "report.html"
    r = build_report(str(out), str(html_path), embeddings=False)
    html = html_path.read_text()
    _assert_self_contained(html)
    for sid in ("funnel", "composition", "lengths", "signals", "dedup", "dropped", "bias", "datasheet"):
        assert f'id="{sid}"' in html
    assert r["figures"] == html.count('<img class="plot"') and r["figures"] >= 6
    assert "Pipeline funnel" in html and "sample" in html  # the sampling step and its drop reason
    assert "&lt;script&gt;alert" in html  # the dropped record with markup, escaped
    assert "No deduplication step ran" in html
    sheet = (tmp_path / "r" / "DATASHEET.md").read_text()
    assert "## Motivation" in sheet and "OPEN — to be answered by a person" in sheet and "records" in sheet
    assert html.count('class="open"') >= 5


def test_report_on_records_without_signals_says_so(tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_text('{"id": "1", "text": "今天天气很好。"}\n{"id": "2", "text": "A short English text."}\n')
    build_report(str(path), str(tmp_path / "plain.html"), embeddings=False)
    html = (tmp_path / "plain.html").read_text()
    assert "holds no numeric signals" in html and "No pipeline stats" in html


def test_report_on_catalog_version_with_compare(tmp_path, report_run):
    _, _, out = report_run
    _, _, out2 = make_run(tmp_path, name="other", n=150, seed=5, start=1000)
    cat = Catalog(str(tmp_path / "cat"))
    cat.add("web", str(out))
    cat.add("web", str(out2))
    r = build_report("catalog://web@1", str(tmp_path / "cmp.html"), compare="catalog://web@0",
                     catalog_root=str(tmp_path / "cat"), embed_fn=hashing_embed)
    html = (tmp_path / "cmp.html").read_text()
    _assert_self_contained(html)
    assert 'id="lineage"' in html and "web@0" in html and 'id="drift"' in html
    assert "Wasserstein distance (normed) &gt; 0.1" in html  # thresholds are stated
    d = r["drift"]
    assert "length.characters" in d["numeric"] and "language" in d["categorical"]
    assert "embeddings" in d and 0 <= d["embeddings"]["classifier_auc"] <= 1
    assert r["bias"]["seat"][0]["test"].startswith("gender")


def test_report_on_post_training_records(tmp_path, shared_data):
    import orjson

    rows = orjson.loads((shared_data / "preference" / "llamafactory" / "dpo_zh_demo.json").read_bytes())[:80]
    path = tmp_path / "dpo_zh.json"
    path.write_bytes(orjson.dumps(rows))
    from datamill.post.formats import convert

    convert(str(path), str(tmp_path / "dpo.jsonl"), to="datamill")
    r = build_report(str(tmp_path / "dpo.jsonl"), str(tmp_path / "post.html"), embed_fn=hashing_embed)
    html = (tmp_path / "post.html").read_text()
    assert 'id="post"' in html and "prompt embedding map" in html and 'alt="roles"' in html
    assert r["figures"] >= 5


@pytest.mark.slow
def test_report_with_minilm_embeddings(tmp_path, report_run):
    _, _, out = report_run
    _, _, out2 = make_run(tmp_path, name="other", n=150, seed=5, start=1000)
    r = build_report(str(out), str(tmp_path / "m.html"), compare=str(out2))
    assert r["drift"]["embeddings"]["n_ref"] > 50
