"""Tests of ``html_language_prefilter`` (language read on a cheap text before extraction)."""

from __future__ import annotations

import gzip
import json

import pytest

from datamill.core.stats import StepStats
from datamill.core.step import REGISTRY, StepContext
from datamill.steps.extract import parsed
from datamill.steps.extract.html import ExtractHTML
from datamill.steps.extract.prefilter import HTMLLanguagePrefilter, slices_of, windows_of
from datamill.steps.langid.tagger import LanguageTagger

EN = ["The city council approved the new budget on Tuesday after a long debate about funding "
      "for public libraries, schools and the repair of several old bridges.",
      "Council members said the plan would raise spending on maintenance by twelve percent "
      "while keeping property taxes at the level residents have paid for three years.",
      "Opponents argued that the estimates for revenue were too optimistic and asked the mayor "
      "to publish a detailed report on the costs before the end of the year."]
DE = ["Der Stadtrat hat am Dienstag nach einer langen Debatte den neuen Haushalt beschlossen, "
      "der mehr Geld für öffentliche Bibliotheken, Schulen und alte Brücken vorsieht.",
      "Die Mitglieder des Rates sagten, der Plan erhöhe die Ausgaben für die Instandhaltung um "
      "zwölf Prozent, während die Grundsteuer auf dem Niveau der letzten drei Jahre bleibe.",
      "Die Gegner meinten, die Schätzungen der Einnahmen seien zu optimistisch, und forderten "
      "den Bürgermeister auf, vor Jahresende einen ausführlichen Bericht vorzulegen."]
ZH = ["市议会周二经过长时间辩论后批准了新的预算，其中包括为公共图书馆、学校以及修复几座旧桥梁提供的资金。",
      "议员们表示，该计划将把维修支出提高百分之十二，同时让居民缴纳的房产税保持在过去三年的水平。",
      "反对者认为收入预测过于乐观，并要求市长在年底之前公布一份关于费用的详细报告。"]
DE_NAV = ("<nav><ul>" + "".join(f"<li><a href='/{i}'>{w}</a></li>" for i, w in enumerate(
    ["Startseite", "Über uns", "Veranstaltungen", "Arbeitsgruppen", "Impressum",
     "Datenschutzerklärung", "Zum Inhalt springen", "Vorherige Beiträge", "Nächste Seite"]))
          + "</ul></nav><p>Veröffentlicht am 11. April 2012 von der Redaktion, Kategorie: "
            "Allgemein, Schlagwörter: Treffen, Gastgeber, Moderation</p>")


def page(paras, nav: str = "", repeat: int = 1) -> str:
    body = "".join(f"<p>{p}</p>" for p in paras * repeat)
    return (f"<html><head><meta charset='utf-8'><title>T</title></head><body>{nav}"
            f"<article>{body}</article></body></html>")


def rec(i, html, ctype="text/html"):
    return {"id": str(i), "text": html, "metadata": {"content_type": ctype}}


def verdicts(step, records):
    return step.drop_reason_batch(records)


def test_registered_and_validates():
    assert REGISTRY["html_language_prefilter"] is HTMLLanguagePrefilter
    with pytest.raises(ValueError, match="languages"):
        HTMLLanguagePrefilter([])
    with pytest.raises(ValueError, match="min_score"):
        HTMLLanguagePrefilter(["en"], min_score=0)
    with pytest.raises(ValueError, match="read"):
        HTMLLanguagePrefilter(["en"], read="all")
    with pytest.raises(ValueError, match="slice_chars"):
        HTMLLanguagePrefilter(["en"], slice_chars=10)
    assert (HTMLLanguagePrefilter(["en"]).windows, HTMLLanguagePrefilter(["en"]).window_chars) == (2, 1000)
    assert (HTMLLanguagePrefilter(["en"], read="page").windows,
            HTMLLanguagePrefilter(["en"], read="page").window_chars) == (3, 600)
    with pytest.raises(ValueError, match="no label"):
        HTMLLanguagePrefilter(["xx-nolang"]).ensure_setup()


def test_windows_of():
    assert windows_of("abc", 600, 3) == ["abc"]
    assert windows_of("", 600, 3) == [""]
    w = windows_of("x" * 10_000, 600, 3)
    assert len(w) == 3 and all(len(s) == 600 for s in w)
    assert windows_of("a" * 1000, 600, 3) == ["a" * 600, "a" * 400]


def test_slices_of():
    head = "<html><head><style>" + "x" * 5000 + "</style></head>"
    small = head + "<body><p>short</p></body></html>"
    assert slices_of(small, 1000, 2) == [small[small.index("<body"):]]
    big = head + "<BODY class=a>" + "<p>" + "a" * 3000 + "</p>" + "<div>" + "b" * 3000 + "</div></body>"
    pieces = slices_of(big, 1000, 2)
    assert len(pieces) == 2 and all(len(p) == 1000 for p in pieces)
    assert pieces[0].startswith("<BODY class=a>") and pieces[1].startswith("<div>")
    assert slices_of("no body tag " * 500, 1000, 2)[0].startswith("no body tag")


MODES = ["slices", "page"]


@pytest.mark.parametrize("read", MODES)
@pytest.mark.parametrize("repeat", [1, 6, 60])  # short, long and very long (sliced) pages
def test_english_kept_german_and_chinese_dropped(repeat, read):
    step = HTMLLanguagePrefilter(["en"], read=read)
    out = verdicts(step, [rec(0, page(EN, repeat=repeat)), rec(1, page(DE, repeat=repeat)),
                          rec(2, page(ZH, repeat=repeat)), rec(3, "\n".join(DE * repeat), "text/plain"),
                          rec(4, "<html><body></body></html>"), rec(5, b"\x89PNG", "image/png")])
    assert out == [None, "language_not_kept", "language_not_kept", "language_not_kept", None, None]


@pytest.mark.parametrize("read", MODES)
@pytest.mark.parametrize("repeat", [1, 6, 60])
def test_chinese_kept(repeat, read):
    step = HTMLLanguagePrefilter(["zh"], read=read)
    out = verdicts(step, [rec(0, page(ZH, repeat=repeat)), rec(1, page(EN, repeat=repeat)),
                          rec(2, page(ZH, nav=DE_NAV, repeat=repeat))])
    assert out == [None, "language_not_kept", None]


@pytest.mark.parametrize("read", MODES)
@pytest.mark.parametrize("nav", [2, 60])
def test_english_article_in_a_german_template_is_kept(read, nav):
    # the case the windows exist for: the start of the page is German navigation (with nav=60,
    # 40,000 characters of it: the first slice is all German, the second reads the article)
    html = page(EN, nav=DE_NAV * nav, repeat=max(2, nav))
    assert verdicts(HTMLLanguagePrefilter(["en"], read=read), [rec(0, html)]) == [None]


def test_slices_never_parse_the_whole_page():
    parsed.clear()
    step = HTMLLanguagePrefilter(["en"])
    step.ensure_setup()
    sizes = []
    real = step._parse
    step._parse = lambda html: sizes.append(len(html)) or real(html)
    html = page(DE, repeat=200)
    assert len(html) > 60_000
    assert verdicts(step, [rec(0, html)]) == ["language_not_kept"]
    assert sizes and max(sizes) <= step.slice_chars and len(sizes) == step.windows
    assert not parsed._TREES  # nothing cached for extract_html in this mode


def test_tree_is_shared_with_extract_html_and_output_identical():
    parsed.clear()
    html = page(EN, nav=DE_NAV, repeat=3)
    plain = ExtractHTML().extract(html)
    step = HTMLLanguagePrefilter(["en"], read="page")
    assert verdicts(step, [rec(0, html)]) == [None]
    assert parsed._TREES and next(iter(parsed._TREES.values()))[0] is html
    assert ExtractHTML().extract(html) == plain  # took the cached tree
    assert not parsed._TREES
    # a dropped page's tree is let go at once
    verdicts(step, [rec(1, page(DE))])
    assert not parsed._TREES


def test_run_batch_counts_reason_and_quarantines_bad_record():
    step = HTMLLanguagePrefilter(["en"])
    stats, ctx = StepStats(step.label, "filter"), StepContext()
    bad = rec(2, object())  # neither str nor bytes: this record fails, the others go on
    out = step.run_batch([rec(0, page(EN)), rec(1, page(DE)), bad], stats, ctx)
    assert [r["id"] for r in out] == ["0"]
    assert stats.dropped["language_not_kept"] == 1
    assert len(ctx.quarantined) == 1
    # the dropped page's language is counted for the summary's "languages seen"
    assert dict(stats.counter("languages")) == {"de": 1}


@pytest.mark.slow
@pytest.mark.parametrize("read", MODES)
def test_no_kept_page_lost_on_real_pages(shared_data, read):
    """Real pages: no page that extract_html + language_id keep is dropped by the pre-filter."""
    aeb = shared_data / "html_extraction" / "scrapinghub_aeb" / "html"
    tev = shared_data / "html_extraction" / "trafilatura_eval" / "html" / "eval"
    files = sorted(aeb.glob("*.html.gz"))[:120] + sorted(tev.glob("*.gz"))[:280]
    htmls = []
    for p in files:
        raw = gzip.open(p).read()
        htmls.append(raw.decode("utf-8", "replace"))
    ex, lt = ExtractHTML(), LanguageTagger()
    ids = lt.identify([ex.extract(h)[0].strip() for h in htmls])
    for lang in ("en", "de", "zh"):
        kept = [l == lang and s >= 0.65 for l, s in ids]
        step = HTMLLanguagePrefilter([lang], read=read)
        out = []
        for i in range(0, len(htmls), 128):
            out += step.drop_reason_batch([rec(j, h) for j, h in enumerate(htmls[i:i + 128], i)])
        lost = [i for i, (v, k) in enumerate(zip(out, kept)) if v and k]
        dropped = sum(v is not None for v in out)
        print(json.dumps({"read": read, "keep": lang, "kept": sum(kept), "prefilter_dropped": dropped,
                          "lost": len(lost)}))
        assert not lost, [str(files[i]) for i in lost]
        if lang == "en":
            assert dropped >= 0.5 * (len(htmls) - sum(kept))
    parsed.clear()


def test_languages_must_cover_the_later_language_id():
    from datamill.core.errors import RecipeError
    from datamill.core.recipe import preflight
    from datamill.steps.langid.fasttext_lid import LanguageID

    ok = [HTMLLanguagePrefilter(["en", "zh"]), ExtractHTML(), LanguageID(languages=["zh"])]
    preflight(ok)
    for later in (LanguageID(languages=["en", "de"]), LanguageID()):
        with pytest.raises(RecipeError, match="html_language_prefilter keeps"):
            preflight([HTMLLanguagePrefilter(["en"]), ExtractHTML(), later])


def test_fineweb_recipe_prefilter_matches_its_language_id():
    from pathlib import Path

    from datamill.core.pipeline import Pipeline
    from datamill.core.recipe import preflight

    recipe = Path(__file__).resolve().parents[3] / "recipes" / "fineweb.yaml"
    steps = Pipeline.from_recipe(str(recipe)).steps
    names = [type(s).__name__ for s in steps]
    assert names.index("HTMLLanguagePrefilter") < names.index("ExtractHTML")
    preflight(steps)
