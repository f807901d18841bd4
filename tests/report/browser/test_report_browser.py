"""The HTML report in a real browser (Debian's Chromium, Playwright), opened from a file:// URL
with every request to another host blocked: no console error, every figure decoded and drawn.
DATAMILL_SCREENSHOTS=1 refreshes docs/screenshots/report-*.png."""

import os
from pathlib import Path

import pytest

from datamill.catalog import Catalog
from datamill.report.build import build_report
from report_helpers import hashing_embed, make_run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]
REPO = Path(__file__).resolve().parents[3]


def _screens_dir():
    flag = os.environ.get("DATAMILL_SCREENSHOTS")
    if not flag:
        return None
    return REPO / "docs" / "screenshots" if flag == "1" else Path(flag)


def test_report_renders_offline_without_errors(tmp_path, report_browser):
    _, _, out = make_run(tmp_path)
    _, _, out2 = make_run(tmp_path, name="other", n=150, seed=5, start=1000)
    cat = Catalog(str(tmp_path / "cat"))
    cat.add("web", str(out))
    cat.add("web", str(out2))
    html = tmp_path / "report.html"
    r = build_report("catalog://web@1", str(html), compare="catalog://web@0", catalog_root=str(tmp_path / "cat"),
                     embed_fn=hashing_embed)
    page = report_browser.new_page(viewport={"width": 1280, "height": 900})
    errors, outside = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(rt):
        if rt.request.url.startswith(("file:", "data:")):
            rt.continue_()
        else:
            outside.append(rt.request.url)
            rt.abort()

    page.route("**/*", route)
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all(
        "img.plot", "els => els.map(e => ({ok: e.complete && e.naturalWidth > 0, w: e.getBoundingClientRect().width}))")
    assert len(images) == r["figures"] and r["figures"] >= 10
    assert all(i["ok"] and i["w"] > 50 for i in images), images
    assert errors == [] and outside == []
    assert page.locator("section#drift table").count() >= 2
    assert page.locator(".open").count() >= 5
    shots = _screens_dir()
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "report-top.png"))
        for sid in ("signals", "drift", "datasheet"):
            page.locator(f"section#{sid}").scroll_into_view_if_needed()
            page.locator(f"section#{sid}").screenshot(path=str(shots / f"report-{sid}.png"))
    page.close()
