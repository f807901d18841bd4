"""Tests of the ``extract_html`` step (HTML → text) and its boilerplate line rules."""

from __future__ import annotations

import gzip
import json
import pickle
import re

import pytest

from datamill.core.step import REGISTRY, StepContext
from datamill.core.stats import StepStats
from datamill.steps.extract.boilerplate import clean_lines
from datamill.steps.extract.html import ExtractHTML

PARAGRAPHS = [
    "The city council approved the new budget on Tuesday after a long debate about "
    "funding for public libraries, schools and the repair of several old bridges.",
    "Council members said the plan would raise spending on maintenance by twelve percent "
    "while keeping property taxes at the level residents have paid for three years.",
    "Opponents argued that the estimates for revenue were too optimistic and asked the "
    "mayor to publish a detailed report on the costs before the end of the year.",
]

ARTICLE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Council approves budget | Example News</title>
<style>body {{ color: red; }} .secret {{ display: none }}</style>
<script>var tracking = "SCRIPT_TEXT_MUST_GO"; function f() {{ return 1; }}</script>
</head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/sport">Sport</a></li></ul></nav>
<div class="cookie-banner">We use cookies to improve your browsing experience. Accept all cookies?</div>
<main><article>
<h1>Council approves budget</h1>
<p>{0}</p>
<figure><img src="a.jpg" alt="ALT_TEXT of a photo"><figcaption>The town hall. (Photo: Jane Roe)</figcaption></figure>
<p>{1}</p>
<p>Advertisement</p>
<p>{2}</p>
<p>Sign up for our daily newsletter to get the news delivered to your inbox.</p>
</article></main>
<footer><p>Copyright © 2024 Example News. All rights reserved.</p>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms of use</a></footer>
<script>document.write("SCRIPT_TEXT_MUST_GO")</script>
</body></html>
""".format(*PARAGRAPHS)


def record(html, **meta):
    return {"id": "r1", "text": html, "metadata": {"url": "http://example.com/a", **meta},
            "signals": {}}


@pytest.fixture(scope="module")
def steps():
    out = {b: ExtractHTML(backend=b) for b in ("datamill", "resiliparse", "trafilatura")}
    for s in out.values():
        s.setup()
    return out


def test_registered():
    assert REGISTRY["extract_html"] is ExtractHTML
    assert ExtractHTML().params["backend"] == "datamill"


@pytest.mark.parametrize("backend", ["datamill", "resiliparse", "trafilatura"])
def test_each_backend_extracts_article(steps, backend):
    out = steps[backend].transform(record(ARTICLE))
    assert out is not None
    text = out["text"]
    for para in PARAGRAPHS:
        assert para in text, (backend, text)
    assert "SCRIPT_TEXT_MUST_GO" not in text
    assert "color: red" not in text
    assert out["metadata"]["title"] == "Council approves budget | Example News"


def test_default_removes_boilerplate(steps):
    text = steps["datamill"].transform(record(ARTICLE))["text"]
    for junk in ("Advertisement", "newsletter", "cookies", "Copyright", "ALT_TEXT", "Photo:",
                 "Home", "Privacy policy"):
        assert junk not in text, junk
    # paragraphs stay separated by blank lines, in document order
    assert text == "\n\n".join(PARAGRAPHS)


def test_empty_pages_give_none(steps):
    step = steps["datamill"]
    for html in ("", "   \n ", "<html><head><title>x</title></head><body></body></html>",
                 "<html><body><script>var a = 1;</script><style>p {}</style></body></html>"):
        assert step.transform(record(html)) is None, html
    assert step.transform({"id": "x", "text": None, "metadata": {}}) is None


def test_min_text_chars():
    step = ExtractHTML(min_text_chars=10_000)
    assert step.transform(record(ARTICLE)) is None


def test_encoding_str_and_bytes(steps):
    body = "Füße, naïve café, Ελληνικά и русский текст — " * 4
    html = f"<html><head><meta charset='{{}}'></head><body><article><p>{body}</p></article></body></html>"
    # str input (what the WARC reader gives)
    out = steps["datamill"].transform(record(html.format("utf-8")))
    assert "Füße, naïve café, Ελληνικά и русский текст" in out["text"]
    # bytes in a legacy encoding, declared in a meta tag
    cyr = "<html><head><meta charset='windows-1251'></head><body><p>{}</p></body></html>".format(
        "Привет, мир! Это проверка кодировки страницы. " * 4)
    out = steps["resiliparse"].transform(record(cyr.encode("cp1251")))
    assert "Привет, мир! Это проверка кодировки страницы." in out["text"]


def test_content_types(steps):
    step = steps["datamill"]
    out = step.transform(record("just some plain text\n", content_type="text/plain; charset=utf-8"))
    assert out["text"] == "just some plain text"
    assert step.transform(record("%PDF-1.4 ...", content_type="application/pdf")) is None
    out = step.transform(record(ARTICLE, content_type="application/xhtml+xml"))
    assert PARAGRAPHS[0] in out["text"]


def test_run_batch_counts_empty(steps):
    step = steps["datamill"]
    stats = StepStats(label=step.label, kind=step.kind)
    out = step.run_batch([record(ARTICLE), record("")], stats, StepContext(keep_dropped=True))
    assert len(out) == 1 and stats.n_in == 2 and stats.n_out == 1
    assert stats.dropped["empty"] == 1


def test_bad_backend():
    with pytest.raises(ValueError):
        ExtractHTML(backend="lynx")


def test_pickle_without_loaded_state():
    step = ExtractHTML(backend="trafilatura", favour_precision=False, min_text_chars=5)
    step.setup()
    step._ready = True
    clone = pickle.loads(pickle.dumps(step))
    assert clone.params == step.params
    assert not getattr(clone, "_ready", False) and clone._extract is None
    assert len(pickle.dumps(step)) < 1000
    out = clone.transform(record(ARTICLE))  # sets itself up lazily
    assert PARAGRAPHS[1] in out["text"]


def test_clean_lines_rules():
    text = ("By John Smith\nNov 19, 2019\n\n" + PARAGRAPHS[0] + "\n\nAdvertisement\n\n"
            + PARAGRAPHS[1] + "\nShare on Facebook\n(Image credit: NASA)\n"
            "Das könnte Sie auch interessieren\n\n" + PARAGRAPHS[2] + "\n\nRead more\n"
            "© 2019 Example Corp")
    assert clean_lines(text) == "\n\n".join(PARAGRAPHS[:2]) + "\n\n" + PARAGRAPHS[2]
    # short lines between paragraphs (sub-headings) survive; edges are trimmed on request
    text = "Menu label\n" + PARAGRAPHS[0] + "\nA short sub-heading\n" + PARAGRAPHS[1] + "\nfoot"
    assert "A short sub-heading" in clean_lines(text, trim_head=True, trim_tail=True)
    assert clean_lines(text, trim_head=True, trim_tail=True).startswith(PARAGRAPHS[0])
    assert clean_lines(text, trim_head=False).startswith("Menu label")
    assert clean_lines("") == ""


# --- real pages, cut from the shared benchmark data at run time --------------------------------
_TOKEN = re.compile(r"\w+")


def _token_f1(gold: str, pred: str) -> float:
    from collections import Counter

    g, p = Counter(_TOKEN.findall(gold)), Counter(_TOKEN.findall(pred))
    tp = sum((g & p).values())
    if not tp:
        return 0.0
    prec, rec = tp / sum(p.values()), tp / sum(g.values())
    return 2 * prec * rec / (prec + rec)


def test_real_pages_scrapinghub(shared_data, steps):
    base = shared_data / "html_extraction" / "scrapinghub_aeb"
    gold = json.loads((base / "ground-truth.json").read_text(encoding="utf8"))
    keys = sorted(gold)[:12]
    f1 = {}
    for backend in ("datamill", "resiliparse"):
        scores = []
        for key in keys:
            html = gzip.decompress((base / "html" / f"{key}.html.gz").read_bytes()).decode("utf8")
            out = steps[backend].transform(record(html, content_type="text/html"))
            scores.append(_token_f1(gold[key]["articleBody"], out["text"] if out else ""))
        f1[backend] = sum(scores) / len(scores)
    assert f1["datamill"] > 0.85
    assert f1["datamill"] > f1["resiliparse"]


def test_real_pages_trafilatura_eval(shared_data, steps):
    base = shared_data / "html_extraction" / "trafilatura_eval"
    spec = json.loads((base / "evaldata.json").read_text(encoding="utf8"))
    found = total = 0
    for url, item in sorted(spec.items())[:15]:
        path = base / "html" / "eval" / (item["file"] + ".gz")
        if not path.exists():
            path = base / "html" / "cache" / (item["file"] + ".gz")
        out = steps["datamill"].transform(record(gzip.decompress(path.read_bytes()), url=url))
        text = out["text"] if out else ""
        found += sum(s in text for s in item["with"])
        total += len(item["with"])
    assert total and found / total > 0.7
